# Draws the data files of scaling_bench into PNGs (gnuplot, Debian's gnuplot-nox):
#
#   gnuplot -e "data='DIR'; out='docs'" bench/scaling_plots.gp
#
# DIR holds workers.dat, echo.dat, pending.dat and imap.dat (their first line names the columns);
# the PNGs go to out/scaling-*.png. Solid lines are medians, dashed ones first calls; NaN (Python
# not run at that point) leaves a gap.
if (!exists("data")) data = "scaling-data"
if (!exists("out")) out = "docs"
workers = data . "/workers.dat"
echo = data . "/echo.dat"
pending = data . "/pending.dat"
imap = data . "/imap.dat"

set terminal pngcairo size 800,500 font "sans,11"
set grid
set key top left opaque
set format y "%g"
mproc = "#1f77b4"
python = "#ff7f0e"
other = "gray40"
set style line 1 linecolor rgb mproc linewidth 2 pointtype 7
set style line 2 linecolor rgb mproc linewidth 1 pointtype 6 dashtype 2
set style line 3 linecolor rgb python linewidth 2 pointtype 5
set style line 4 linecolor rgb python linewidth 1 pointtype 4 dashtype 2
set style line 5 linecolor rgb other linewidth 2 pointtype 9
set style line 6 linecolor rgb other linewidth 1 dashtype 3

# Workers: 1, 2, 4, ..., 64 on a log-2 axis.
set logscale x 2
set xlabel "workers"
set xtics ("1" 1, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32, "64" 64)
set xrange [0.8:80]

set output out . "/scaling-start.png"
set title "Pool start: constructor and a first answered apply"
set ylabel "time (ms)"
set logscale y 10
plot workers using 1:2 with linespoints linestyle 1 title "mproc, median", \
     workers using 1:3 with linespoints linestyle 2 title "mproc, first", \
     workers using 1:4 with linespoints linestyle 3 title "Python, median", \
     workers using 1:5 with linespoints linestyle 4 title "Python, first"

set output out . "/scaling-apply.png"
set title "apply(f, x) round trip against the number of workers"
set ylabel "round trip (us), median"
plot workers using 1:6 with linespoints linestyle 1 title "mproc", \
     workers using 1:7 with linespoints linestyle 3 title "Python"

set output out . "/scaling-map.png"
set title "map of 10^6 ints against the number of workers"
set ylabel "throughput (million items/s)"
set key bottom left
plot workers using 1:8 with linespoints linestyle 1 title "mproc, median", \
     workers using 1:9 with linespoints linestyle 2 title "mproc, first", \
     workers using 1:10 with linespoints linestyle 3 title "Python, median", \
     workers using 1:11 with linespoints linestyle 4 title "Python, first"

set output out . "/scaling-worker-memory.png"
set title "Memory of an idle worker (median worker), beyond an idle forked child of the program"
set ylabel "KiB"
unset logscale y
set key top right
plot workers using 1:($12 - $14) with linespoints linestyle 1 title "mproc: PSS - idle child's PSS", \
     workers using 1:13 with linespoints linestyle 2 title "mproc: Private pages", \
     workers using 1:($15 - $17) with linespoints linestyle 3 title "Python: PSS - idle child's PSS", \
     workers using 1:16 with linespoints linestyle 4 title "Python: Private pages", \
     2048 with lines linestyle 6 title "target: 2 MiB"
set autoscale y

# Message size: 8 B to 1 GiB.
set output out . "/scaling-echo.png"
set title "apply echo of a byte vector against a local copy into fresh memory"
set xlabel "message size"
set xtics ("8 B" 8, "512 B" 512, "32 KiB" 32768, "2 MiB" 2097152, "128 MiB" 134217728, "1 GiB" 1073741824)
set xrange [5:1.6e9]
set ylabel "throughput (GB/s, message bytes / time)"
set logscale y 10
set format y "10^{%L}"
set key bottom right
plot echo using 1:2 with linespoints linestyle 5 title "local copy", \
     echo using 1:3 with linespoints linestyle 1 title "mproc echo, median", \
     echo using 1:4 with linespoints linestyle 2 title "mproc echo, first", \
     echo using 1:5 with linespoints linestyle 3 title "Python echo, median", \
     echo using 1:6 with linespoints linestyle 4 title "Python echo, first"

set format y "%g"

# Pending tasks: 10 to 10^6.
set logscale x 10
set xlabel 'pending tasks (apply\_async, workers held busy)'
set xtics autofreq
set format x "10^{%T}"
set xrange [5:2e6]

set output out . "/scaling-pending-memory.png"
set title "Parent memory per pending task (an int argument)"
set ylabel "bytes per task"
unset logscale y
set yrange [0:*]
set key top left
plot pending using 1:2 with linespoints linestyle 1 title "mproc: malloc'd bytes in use", \
     pending using 1:3 with linespoints linestyle 2 title "mproc: resident memory (RSS)", \
     pending using 1:4 with linespoints linestyle 3 title "Python: resident memory (RSS)", \
     204 with lines linestyle 6 title "target: 200 B + the argument"
set autoscale y

set output out . "/scaling-drain.png"
set title "Time to finish the pending tasks once the workers are free"
set ylabel "time (s)"
set logscale y 10
set key top left
plot pending using 1:7 with linespoints linestyle 1 title "mproc", \
     pending using 1:8 with linespoints linestyle 3 title "Python"

# imap chunksize: 1 to 4096.
set output out . "/scaling-imap.png"
set title "imap throughput against chunksize"
set logscale x 4
set format x "%.0f"
set xtics ("1" 1, "4" 4, "16" 16, "64" 64, "256" 256, "1024" 1024, "4096" 4096)
set xrange [0.8:5000]
set xlabel "chunksize (items per task)"
set ylabel "throughput (million items/s)"
plot imap using 1:2 with linespoints linestyle 1 title "mproc, median", \
     imap using 1:3 with linespoints linestyle 2 title "mproc, first", \
     imap using 1:4 with linespoints linestyle 3 title "Python, median", \
     imap using 1:5 with linespoints linestyle 4 title "Python, first"
