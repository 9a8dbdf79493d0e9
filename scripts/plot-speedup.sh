#!/usr/bin/env bash
# Turns the CSV of `mproc-matrix --sweep` into a PNG speedup plot (gnuplot, Debian's gnuplot-nox).
#
#   build/release/examples/matrix/mproc-matrix --generate 2300 | build/release/examples/matrix/mproc-matrix --sweep > sweep.csv
#   scripts/plot-speedup.sh sweep.csv docs/matrix-speedup.png
#   build/release/examples/matrix/mproc-matrix --sweep --sizes 420,1000,2300 > sweep.csv   (several n)
#   ... | mproc-matrix --sweep | scripts/plot-speedup.sh - speedup.png      (CSV from stdin)
#
# The plot shows mulMat's speedup (Single time / Multi time) against the number of processes, one
# line per matrix size n, with the ideal min(processes, cores) for comparison.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: scripts/plot-speedup.sh SWEEP.csv|- OUTPUT.png" >&2
  exit 2
fi
command -v gnuplot >/dev/null || { echo "plot-speedup.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 2; }

csv=$1
output=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ $csv == - ]]; then
  cat >"$work/sweep.csv"
  csv=$work/sweep.csv
fi
header=$(head -n 1 "$csv")
if [[ $header != processes,cores,method,n,tasks,single_seconds,multi_seconds,speedup ]]; then
  echo "plot-speedup.sh: $csv is not the CSV of mproc-matrix --sweep (header: $header)" >&2
  exit 2
fi
# Columns: 1 processes, 2 cores, 3 method, 4 n, 5 tasks, 6 single, 7 multi, 8 speedup.
read -r cores method max_processes top < <(awk -F, 'NR > 1 { c = $2; m = $3; if ($1 > p) p = $1; if ($8 > s) s = $8 }
  END { print c, m, p, (s > c ? s : c) * 1.25 }' "$csv")
sizes=$(awk -F, 'NR > 1 && !seen[$4]++ { print $4 }' "$csv" | tr '\n' ' ')

gnuplot <<EOF
set terminal pngcairo size 800,500 font "sans,11"
set output "$output"
set datafile separator ","
set title "mproc-matrix: mulMat speedup, pool.$method, $cores cores"
set xlabel "processes"
set ylabel "speedup (Single time / Multi time)"
set xrange [0.5:$max_processes + 0.5]
set yrange [0:$top]
set xtics 1
set grid
set key bottom right
plot "< awk -F, -v n=${sizes%% *} 'NR > 1 && \$4 == n' $csv" using 1:(\$1 < \$2 ? \$1 : \$2) with lines dashtype 2 linecolor rgb "gray40" title "ideal: min(processes, cores)", \
     for [n in "$sizes"] "< awk -F, -v n=".n." 'NR > 1 && \$4 == n' $csv" using 1:8 with linespoints pointtype 7 linewidth 2 title "n = ".n, \
     for [n in "$sizes"] "< awk -F, -v n=".n." 'NR > 1 && \$4 == n' $csv" using 1:8:(sprintf("%.2f", \$8)) with labels offset 0,1 notitle
EOF
echo "plot-speedup.sh: wrote $output"
