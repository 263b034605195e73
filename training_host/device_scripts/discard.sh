#!/bin/sh
# usage: discard.sh TEMP_FILE
# Removes a temp upload and its sidecar (a refused file).
rm -f "$1" "$1.sha256"
