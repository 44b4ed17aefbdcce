#!/bin/sh
# Redraws docs/optuna-dashboard.png, the README's picture of optuna-dashboard on a search's store:
# a 200-trial evolution search on the NAS-Bench-201 table, then a headless browser's screenshot.
# Needs `pip install -e '.[dashboard]'`, Debian's `chromium-headless-shell` and the table in
# ../shared/data. Run from the repository root: sh docs/dashboard_screenshot.sh
set -eu
work=$(mktemp -d)
nasdsl search nasbench201 --strategy evolution --trials 200 --seed 0 --metric cifar10_test \
    --evaluator table:../shared/data/nb201_table.csv.gz --out "$work/run" > /dev/null
optuna-dashboard "sqlite:///$work/run/exp.db" --host 127.0.0.1 --port 8085 > "$work/dashboard.log" 2>&1 &
server=$!
trap 'kill $server; rm -rf "$work"' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8085/api/studies')" 2> /dev/null && break
    sleep 1
done
chromium-headless-shell --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1250 \
    --virtual-time-budget=20000 --screenshot=docs/optuna-dashboard.png \
    http://127.0.0.1:8085/dashboard/studies/1 2> /dev/null
