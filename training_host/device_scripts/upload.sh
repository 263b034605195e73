#!/bin/sh
# usage: upload.sh TEMP_FILE EXPECTED_SHA256 SIDECAR_TEXT < weights
# stdin -> temp file; prints the checksum of what arrived. Only when it is the one expected ($2) is the
# sidecar ($3) written next to it; otherwise the temp file is removed at once.
umask 022
cat > "$1" || { rm -f "$1"; exit 4; }
got=$(sha256sum < "$1" | cut -d' ' -f1)
echo "$got"
if [ "$got" = "$2" ]; then printf '%s' "$3" > "$1.sha256" || { rm -f "$1" "$1.sha256"; exit 5; }
else rm -f "$1"; fi
