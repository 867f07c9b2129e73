#!/usr/bin/env bash
# Opens the real posture window under a virtual X display (Xvfb), takes a screenshot while the
# demo plays, and checks that the overlay is really on screen: pixels of the skeleton's colours
# (the person's left side #FF9600, right side #00BEFF) and the white HUD text.
#
# Needs: xvfb, x11-apps (xwd), imagemagick (convert). Usage:
#   scripts/window_check.sh [path/to/posture] [screenshot.png]
set -euo pipefail
BIN=${1:-target/release/posture}
SHOT=${2:-window_check.png}
DISPLAY_NUM=:97
LOG=$(mktemp)
Xvfb "$DISPLAY_NUM" -screen 0 1280x800x24 >/dev/null 2>&1 &
XVFB=$!
trap 'kill "$XVFB" 2>/dev/null || true; [ -n "${APP:-}" ] && kill "$APP" 2>/dev/null || true' EXIT
sleep 1
DISPLAY=$DISPLAY_NUM "$BIN" demo --loops 20 >/dev/null 2>"$LOG" &
APP=$!
# Wait for the first frames to be drawn.
sleep 6
DISPLAY=$DISPLAY_NUM xwd -root -silent | convert xwd:- "$SHOT"
kill "$APP" 2>/dev/null || true
wait "$APP" 2>/dev/null || true
if grep -q "no display" "$LOG"; then
  echo "window_check: FAILED: posture did not open a window:"; cat "$LOG"; exit 1
fi
count() { convert "$SHOT" -fill black +opaque "$1" -fill white -opaque "$1" -format "%[fx:int(mean*w*h+0.5)]" info:; }
left=$(count "#FF9600"); right=$(count "#00BEFF"); text=$(count "#FFFFFF")
echo "window_check: screenshot $SHOT: $left left-side pixels, $right right-side pixels, $text white pixels"
if [ "$left" -lt 200 ] || [ "$right" -lt 200 ] || [ "$text" -lt 200 ]; then
  echo "window_check: FAILED: the skeleton or the HUD is missing from the window"; exit 1
fi
echo "window_check: ok"
