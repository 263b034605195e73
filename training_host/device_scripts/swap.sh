#!/bin/sh
# usage: swap.sh MODEL_DIR
# Manual rollback: exchange current and previous (its own inverse, so a failed rollback swaps back).
set -e
cd "$1"
link() { ln -f "$1" "$2" 2>/dev/null || cp -p "$1" "$2"; }
[ -e previous.pkl ] || { echo "no previous.pkl in $1: nothing to roll back to" >&2; exit 3; }
[ -e current.pkl ] || { echo "no current.pkl in $1 (the device runs its packaged model): deploy a file instead" >&2; exit 3; }
link current.pkl .swap.pkl
if [ -e current.pkl.sha256 ]; then cp -p current.pkl.sha256 .swap.sha; else rm -f .swap.sha; fi
rm -f current.pkl.sha256
link previous.pkl .swap.new.pkl && mv -f .swap.new.pkl current.pkl
if [ -e previous.pkl.sha256 ]; then cp -p previous.pkl.sha256 .swap.new.sha && mv -f .swap.new.sha current.pkl.sha256; fi
mv -f .swap.pkl previous.pkl
if [ -e .swap.sha ]; then mv -f .swap.sha previous.pkl.sha256; else rm -f previous.pkl.sha256; fi
sync . 2>/dev/null || true
