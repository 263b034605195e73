#!/bin/sh
# usage: promote.sh MODEL_DIR TEMP_FILE
# Temp file -> current.pkl, keeping the old current as previous (a hard link, so no copy and no window).
set -e
cd "$1"; tmp=$2
link() { ln -f "$1" "$2" 2>/dev/null || cp -p "$1" "$2"; }
if [ -e current.pkl ]; then
  link current.pkl .previous.pkl.new && mv -f .previous.pkl.new previous.pkl
  if [ -e current.pkl.sha256 ]; then cp -p current.pkl.sha256 .previous.sha.new && mv -f .previous.sha.new previous.pkl.sha256
  else rm -f previous.pkl.sha256; fi
  echo had_current=1
else
  echo had_current=0
fi
rm -f current.pkl.sha256
sync "$tmp" 2>/dev/null || true
mv -f "$tmp" current.pkl
mv -f "$tmp.sha256" current.pkl.sha256
sync . 2>/dev/null || true
