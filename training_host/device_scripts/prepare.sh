#!/bin/sh
# usage: prepare.sh MODEL_DIR STALE_MINUTES
# Checks the model directory is usable, sweeps leftovers of killed uploads, prints the checksums of
# current.pkl and previous.pkl as key=value lines and "ready=1".
d=$1; stale=$2
[ -d "$d" ] || { echo "model directory $d does not exist on the device: install anpr-device or set the model dir" >&2; exit 3; }
[ -w "$d" ] || { echo "model directory $d is not writable by $(id -un): use --sudo or fix its owner" >&2; exit 3; }
command -v sha256sum >/dev/null || { echo "sha256sum is missing on the device (coreutils or busybox)" >&2; exit 3; }
find "$d" -maxdepth 1 -name '.incoming-*' -mmin +"$stale" -exec rm -f {} + 2>/dev/null
if [ -e "$d/current.pkl" ]; then echo "current=$(sha256sum < "$d/current.pkl" | cut -d' ' -f1)"; fi
if [ -e "$d/previous.pkl" ]; then echo "previous=$(sha256sum < "$d/previous.pkl" | cut -d' ' -f1)"; fi
echo ready=1
