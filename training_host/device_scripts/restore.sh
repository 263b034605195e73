#!/bin/sh
# usage: restore.sh MODEL_DIR HAD_CURRENT(1|0)
# After a failed deploy: previous -> current again (or no current at all if there was none before).
set -e
cd "$1"
link() { ln -f "$1" "$2" 2>/dev/null || cp -p "$1" "$2"; }
rm -f current.pkl.sha256
if [ "$2" = 1 ]; then
  link previous.pkl .restore.pkl.new && mv -f .restore.pkl.new current.pkl
  if [ -e previous.pkl.sha256 ]; then cp -p previous.pkl.sha256 .restore.sha.new && mv -f .restore.sha.new current.pkl.sha256; fi
else
  rm -f current.pkl
fi
sync . 2>/dev/null || true
