#!/usr/bin/env bash
# bench/run.sh — superd side by side with xinetd, openbsd-inetd, tcpserver
# (ucspi-tcp) and a minimal C accept+fork+exec loop, on loopback.
#
#   bash bench/run.sh                 # full run (~15 min): 3 reps x 5 s, c = 1 8 32 256
#   QUICK=1 bash bench/run.sh         # quick check (~2 min): 1 rep x 2 s, c = 1 32
#   PROFILE=1 bash bench/run.sh       # also perf-profile superd under hello c=32
#
# Environment: REPS, DUR (seconds, 1..60), CONCS ("1 8 32 256"), SCALE
# ("1 100 1000" services), SERVERS ("superd xinetd inetd tcpserver c-forkexec"),
# OUT (report path, default BENCHMARKS.md at the repository root; "-" for
# stdout only), BENCH_USER (user the handlers run as, default root),
# PORT_BASE (default 19100), KEEP=1 keeps the temporary directory,
# SUPERD_BIN benchmarks that binary instead of building ./cmd/superd.
#
# As root it installs what is missing with apt-get (--no-install-recommends):
# xinetd, ucspi-tcp, gcc, libc6-dev; openbsd-inetd conflicts with xinetd in
# Debian, so when it cannot be installed beside it its package is downloaded
# with apt-get and unpacked into the temporary directory. Not as root, the
# servers that are missing are skipped (and the report says so).
#
# Every server runs in the foreground under a temporary configuration on
# its own 127.0.0.1 port, and is stopped on exit (trap). The report goes to
# stdout and to $OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	REPS=${REPS:-1} DUR=${DUR:-2} CONCS=${CONCS:-"1 32"} SCALE=${SCALE:-"1 100"}
else
	REPS=${REPS:-3} DUR=${DUR:-5} CONCS=${CONCS:-"1 8 32 256"} SCALE=${SCALE:-"1 100 1000"}
fi
SERVERS=${SERVERS:-"superd xinetd inetd tcpserver c-forkexec"}
OUT=${OUT:-$ROOT/BENCHMARKS.md}
BENCH_USER=${BENCH_USER:-root}
PORT_BASE=${PORT_BASE:-19100}
PROFILE=${PROFILE:-0}
KEEP=${KEEP:-0}
UDP_TIMEOUT=${UDP_TIMEOUT:-250ms}

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[[ $DUR =~ ^[0-9]+$ ]] && ((DUR >= 1 && DUR <= 60)) || die "DUR=$DUR: want whole seconds 1..60"
[[ $REPS =~ ^[0-9]+$ ]] && ((REPS >= 1 && REPS <= 20)) || die "REPS=$REPS: want 1..20"
for c in $CONCS; do [[ $c =~ ^[0-9]+$ ]] && ((c >= 1 && c <= 4096)) || die "CONCS: $c: want 1..4096"; done
for n in $SCALE; do [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 5000)) || die "SCALE: $n: want 1..5000"; done
command -v go >/dev/null || die "go not found"

T=$(mktemp -d /tmp/superd-bench.XXXXXX)
chmod 0755 "$T"
RES=$T/results.jsonl
: >"$RES"
declare -a PIDS=()

cleanup() {
	local rc=$? p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [[ $KEEP == 1 ]]; then log "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop PID: SIGTERM, up to 3 s, then SIGKILL; forget it.
stop() {
	local p=$1 keep=() q
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 60); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for q in "${PIDS[@]}"; do [[ $q == "$p" ]] || keep+=("$q"); done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

json_str() { # a JSON string literal
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/ }
	s=${s//$'\t'/ }
	printf '"%s"' "$s"
}

# ---------------------------------------------------------------- install
have() { command -v "$1" >/dev/null 2>&1; }
IS_ROOT=0
[[ $(id -u) == 0 ]] && IS_ROOT=1
APT_UPDATED=0
apt_install() {
	((IS_ROOT)) || return 1
	have apt-get || return 1
	if DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$T/apt.log" 2>&1; then
		return 0
	fi
	if ((APT_UPDATED == 0)); then
		APT_UPDATED=1
		apt-get update >>"$T/apt.log" 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$T/apt.log" 2>&1 && return 0
	fi
	return 1
}

# unpack PKG BINPATH LIBS...: when PKG cannot be installed beside a
# conflicting package, download it and run its binary from $T/pkg.
unpack() {
	local pkg=$1 bin=$2
	shift 2
	((IS_ROOT)) || return 1
	apt_install "$@" || true
	mkdir -p "$T/deb" "$T/pkg"
	(cd "$T/deb" && apt-get download "$pkg" >>"$T/apt.log" 2>&1) || return 1
	dpkg-deb -x "$T"/deb/"$pkg"_*.deb "$T/pkg" || return 1
	[[ -x $T/pkg/$bin ]] || return 1
	! ldd "$T/pkg/$bin" 2>/dev/null | grep -q 'not found'
}

if ! have gcc || [[ ! -e /usr/include/stdio.h ]]; then
	log "installing gcc libc6-dev"
	apt_install gcc libc6-dev || true
fi
have gcc || die "gcc not found (and not root to install it)"

declare -A BIN_OF=() NOTE_OF=() STATUS_OF=()
want() { [[ " $SERVERS " == *" $1 "* ]]; }

if want xinetd; then
	if have xinetd || { log "installing xinetd"; apt_install xinetd; }; then
		BIN_OF[xinetd]=$(command -v xinetd)
	elif unpack xinetd usr/sbin/xinetd libtirpc3 libwrap0 libselinux1; then
		BIN_OF[xinetd]=$T/pkg/usr/sbin/xinetd
	fi
fi
if want inetd; then
	if have inetd && inetd -h 2>&1 | grep -q -- '-R'; then
		BIN_OF[inetd]=$(command -v inetd)
	elif [[ -x /usr/sbin/inetd ]] && dpkg-query -W -f='${Status}' openbsd-inetd 2>/dev/null | grep -q 'ok installed'; then
		BIN_OF[inetd]=/usr/sbin/inetd
	elif ! dpkg-query -W -f='${Status}' xinetd 2>/dev/null | grep -q 'ok installed' && { log "installing openbsd-inetd"; apt_install openbsd-inetd; }; then
		BIN_OF[inetd]=/usr/sbin/inetd
	elif { log "unpacking openbsd-inetd (it conflicts with xinetd)"; unpack openbsd-inetd usr/sbin/inetd libbsd0 libevent-2.1-7 libtirpc3 libwrap0 libsystemd0; }; then
		BIN_OF[inetd]=$T/pkg/usr/sbin/inetd
	fi
fi
if want tcpserver; then
	if have tcpserver || { log "installing ucspi-tcp"; apt_install ucspi-tcp; }; then
		BIN_OF[tcpserver]=$(command -v tcpserver)
	fi
fi

# ---------------------------------------------------------------- build
B=$T/bin
mkdir -p "$B"
log "building superd, loadgen, report, hello, forkexec in $T"
if [[ -n ${SUPERD_BIN:-} ]]; then
	cp "$SUPERD_BIN" "$B/superd" || die "SUPERD_BIN=$SUPERD_BIN: cannot copy"
else
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$B/superd" ./cmd/superd) || die "superd does not build"
fi
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$B/loadgen" ./bench/loadgen) || die "loadgen does not build"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$B/report" ./bench/report) || die "report does not build"
# hello without libc where the architecture allows (see hello.c), else glibc static.
if gcc -O2 -static -nostdlib -fno-stack-protector -DHELLO_NOLIBC -o "$B/hello" "$ROOT/bench/c/hello.c" 2>/dev/null &&
	[[ $("$B/hello") == hello ]]; then
	HELLO_KIND="static, no libc (\`gcc -O2 -static -nostdlib -DHELLO_NOLIBC\`)"
else
	gcc -O2 -static -o "$B/hello" "$ROOT/bench/c/hello.c" || die "hello.c does not build (static: needs libc6-dev)"
	HELLO_KIND="static glibc (\`gcc -O2 -static\`)"
fi
gcc -O2 -o "$B/forkexec" "$ROOT/bench/c/forkexec.c" || die "forkexec.c does not build"
BIN_OF[superd]=$B/superd
BIN_OF[c-forkexec]=$B/forkexec
LG=$B/loadgen
HELLO=$B/hello
CAT=/bin/cat
[[ $("$HELLO") == hello ]] || die "hello does not say hello"

# ---------------------------------------------------------------- machine
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# How busy the CPUs are before we start (the load average lags by minutes).
cpu_busy_pct() { # over 1 s, from /proc/stat
	local a b
	a=($(head -1 /proc/stat))
	sleep 1
	b=($(head -1 /proc/stat))
	awk -v t0="$(IFS=+; echo "$((${a[*]:1}))")" -v t1="$(IFS=+; echo "$((${b[*]:1}))")" \
		-v i0="$((a[4] + a[5]))" -v i1="$((b[4] + b[5]))" \
		'BEGIN { d = t1 - t0; p = d > 0 ? 100 * (1 - (i1 - i0) / d) : 0; printf "%.0f", p }'
}
BUSY_START=$(cpu_busy_pct)
{
	echo "## Machine"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
	echo "| CPUs (nproc) | $(nproc) |"
	echo "| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') |"
	echo "| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |"
	echo "| kernel | $(uname -sr) |"
	echo "| OS | $(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}") |"
	echo "| Go | $(go version | cut -d' ' -f3-) |"
	echo "| superd | $("$B/superd" version 2>&1 | head -1) (git $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?')) |"
	echo "| hello handler | $HELLO_KIND |"
	echo "| run | REPS=$REPS DUR=${DUR}s CONCS=\"$CONCS\" SCALE=\"$SCALE\" QUICK=$QUICK, handlers run as $BENCH_USER |"
	echo "| somaxconn / port range / tw_reuse | $(cat /proc/sys/net/core/somaxconn) / $(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range) / $(cat /proc/sys/net/ipv4/tcp_tw_reuse) |"
	# 1: every handler that starts its own session (superd, xinetd,
	# openbsd-inetd) is a scheduling group of its own while the servers run
	# in the root CPU cgroup, which lengthens the latency tail of the
	# longer handlers (/bin/cat) under load.
	echo "| kernel.sched_autogroup_enabled | $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo '?') |"
	echo "| CPU busy before the start / load average | ${BUSY_START}% / $LOAD_START |"
} >"$T/machine.md"
if ((BUSY_START > 20)); then
	log "warning: the CPUs are ${BUSY_START}% busy before the benchmark: numbers will be noisy"
	BUSY="**Warning: the CPUs were ${BUSY_START}% busy just before this ran (load average $LOAD_START on $(nproc) CPUs): other processes competed for them, so the numbers are noisy. Re-run on an idle machine.**"
fi

# ---------------------------------------------------------------- configs
P=$PORT_BASE
# Ports: superd +0.., xinetd +100.., inetd +200.., tcpserver +300.., C +400..
# (+1 hello, +2 echo, +3 deny, +4 udp builtin echo, +5 udp /bin/cat)
port() { # port SERVER WHAT
	local off
	case $1 in superd) off=0 ;; xinetd) off=100 ;; inetd) off=200 ;; tcpserver) off=300 ;; c-forkexec) off=400 ;; esac
	case $2 in hello) echo $((P + off + 1)) ;; echo) echo $((P + off + 2)) ;; deny) echo $((P + off + 3)) ;; udp) echo $((P + off + 4)) ;; udpcat) echo $((P + off + 5)) ;; esac
}
USER_LINE=""
((IS_ROOT)) && USER_LINE="user = \"$BENCH_USER\""

mkdir -p "$T/superd"
cat >"$T/superd/bench.hcl" <<EOF
daemon {
  log_format     = "json"
  shutdown_grace = "1s"
  kill_delay     = "1s"
}

service "hello" {
  listen  = ["127.0.0.1:$(port superd hello)"]
  command = ["$HELLO"]
  $USER_LINE
  limits {
    instances = 0
  }
}

service "echo" {
  listen  = ["127.0.0.1:$(port superd echo)"]
  command = ["$CAT"]
  $USER_LINE
  limits {
    instances = 0
  }
}

service "deny" {
  listen  = ["127.0.0.1:$(port superd deny)"]
  command = ["$HELLO"]
  $USER_LINE
  access {
    deny = ["127.0.0.2"]
  }
  limits {
    instances = 0
  }
}

service "echo-udp-builtin" {
  protocol = "udp"
  listen   = ["127.0.0.1:$(port superd udp)"]
  builtin  = "echo"
  limits {
    instances = 0
  }
}

service "echo-udp-cat" {
  protocol = "udp"
  listen   = ["127.0.0.1:$(port superd udpcat)"]
  command  = ["$CAT"]
  $USER_LINE
  limits {
    instances = 0
  }
}
EOF

xinetd_service() { # name port server [extra line]
	cat <<EOF
service $1
{
	type        = UNLISTED
	socket_type = stream
	protocol    = tcp
	wait        = no
	user        = $BENCH_USER
	bind        = 127.0.0.1
	port        = $2
	server      = $3
	${4:-}
}
EOF
}
{
	cat <<EOF
defaults
{
	instances  = UNLIMITED
	cps        = 100000 1
	per_source = UNLIMITED
	log_type   = FILE $T/xinetd.svclog
}
EOF
	xinetd_service bench-hello "$(port xinetd hello)" "$HELLO"
	xinetd_service bench-echo "$(port xinetd echo)" "$CAT"
	xinetd_service bench-deny "$(port xinetd deny)" "$HELLO" "no_access   = 127.0.0.2"
	cat <<EOF
service echo
{
	type        = INTERNAL UNLISTED
	id          = echo-dgram
	socket_type = dgram
	protocol    = udp
	wait        = yes
	user        = root
	bind        = 127.0.0.1
	port        = $(port xinetd udp)
}
EOF
} >"$T/xinetd.conf"

printf '127.0.0.1:%s\tstream\ttcp\tnowait.1000000\t%s\t%s\t%s\n' \
	"$(port inetd hello)" "$BENCH_USER" "$HELLO" hello \
	"$(port inetd echo)" "$BENCH_USER" "$CAT" cat >"$T/inetd.conf"

TCPRULES_OK=0
if have tcprules; then
	printf '127.0.0.2:deny\n:allow\n' | tcprules "$T/tcp.cdb" "$T/tcp.tmp" && TCPRULES_OK=1
fi

# ---------------------------------------------------------------- servers
# bg LOGFILE CMD...: start in the background, remember the pid in BGPID.
bg() {
	local logf=$1
	shift
	"$@" </dev/null >"$logf" 2>&1 &
	BGPID=$!
	PIDS+=("$BGPID")
}

wait_port() { # wait_port PORT PID: until something accepts on 127.0.0.1:PORT
	local port=$1 pid=$2
	for _ in $(seq 1000); do
		kill -0 "$pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.01
	done
	return 1
}

wait_log() { # wait_log FILE REGEX COUNT TIMEOUT_S PID: until COUNT lines match
	local f=$1 re=$2 n=$3 t=$4 pid=$5 i
	for ((i = 0; i < t * 200; i++)); do
		local got
		got=$(grep -c -E "$re" "$f" 2>/dev/null || true)
		((${got:-0} >= n)) && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.005
	done
	return 1
}

declare -A PID_OF=() PORTS_OF=()
start_server() { # start_server NAME: sets PID_OF[NAME], STATUS_OF, NOTE_OF
	local s=$1 bin=${BIN_OF[$1]:-}
	if [[ -z $bin ]]; then
		STATUS_OF[$s]="skipped: not installed"
		((IS_ROOT)) || STATUS_OF[$s]="skipped: not installed (not root, so nothing was installed)"
		NOTE_OF[$s]="—"
		return 1
	fi
	case $s in
	superd)
		bg "$T/superd.log" "$bin" run -config "$T/superd"
		PID_OF[$s]=$BGPID
		NOTE_OF[$s]="\`superd run -config DIR\`, \`instances = 0\`, no per-source limits, JSON log to a file (one line per handler)"
		wait_log "$T/superd.log" '"msg":"ready"' 1 20 "$BGPID" || { STATUS_OF[$s]="failed to start: $(tail -3 "$T/superd.log" | tr '\n' ' ')"; return 1; }
		;;
	xinetd)
		bg "$T/xinetd.out" "$bin" -dontfork -filelog "$T/xinetd.log" -f "$T/xinetd.conf"
		PID_OF[$s]=$BGPID
		NOTE_OF[$s]="$("$bin" -version 2>&1 | head -1 | cut -d' ' -f1): \`xinetd -dontfork -f CONF\`, \`instances = UNLIMITED\`, \`cps = 100000 1\`, \`per_source = UNLIMITED\`, no per-connection logging"
		wait_port "$(port xinetd hello)" "$BGPID" || { STATUS_OF[$s]="failed to start: $(tail -3 "$T/xinetd.log" "$T/xinetd.out" 2>/dev/null | tr '\n' ' ')"; return 1; }
		;;
	inetd)
		bg "$T/inetd.out" "$bin" -i -q 4096 -R 1000000 "$T/inetd.conf"
		PID_OF[$s]=$BGPID
		NOTE_OF[$s]="openbsd-inetd $(dpkg-query -W -f='${Version}' openbsd-inetd 2>/dev/null || ls "$T"/deb/ 2>/dev/null | sed -n 's/.*_\(.*\)_.*/\1/p'): \`inetd -i -q 4096 -R 1000000 CONF\`, \`nowait.1000000\`"
		wait_port "$(port inetd hello)" "$BGPID" || { STATUS_OF[$s]="failed to start: $(tr '\n' ' ' <"$T/inetd.out")"; return 1; }
		;;
	tcpserver)
		# One process per port; -H -R -l 0: no DNS or ident look-ups (superd does none).
		local ts=("$bin" -q -H -R -l 0 -c 100000 -b 4096)
		bg "$T/tcpserver-hello.out" "${ts[@]}" 127.0.0.1 "$(port tcpserver hello)" "$HELLO"
		PID_OF[$s]=$BGPID
		bg "$T/tcpserver-echo.out" "${ts[@]}" 127.0.0.1 "$(port tcpserver echo)" "$CAT"
		PID_OF[$s-echo]=$BGPID
		if ((TCPRULES_OK)); then
			bg "$T/tcpserver-deny.out" "${ts[@]}" -x "$T/tcp.cdb" 127.0.0.1 "$(port tcpserver deny)" "$HELLO"
			PID_OF[$s-deny]=$BGPID
		fi
		NOTE_OF[$s]="ucspi-tcp $(dpkg-query -W -f='${Version}' ucspi-tcp 2>/dev/null): \`tcpserver -q -H -R -l 0 -c 100000 -b 4096 127.0.0.1 PORT PROG\` (one process per port; deny test with \`-x\` tcprules \`127.0.0.2:deny\`)"
		wait_port "$(port tcpserver hello)" "${PID_OF[$s]}" && wait_port "$(port tcpserver echo)" "${PID_OF[$s-echo]}" ||
			{ STATUS_OF[$s]="failed to start"; return 1; }
		;;
	c-forkexec)
		bg "$T/forkexec-hello.out" "$bin" 127.0.0.1 "$(port c-forkexec hello)" "$HELLO"
		PID_OF[$s]=$BGPID
		bg "$T/forkexec-echo.out" "$bin" 127.0.0.1 "$(port c-forkexec echo)" "$CAT"
		PID_OF[$s-echo]=$BGPID
		NOTE_OF[$s]="\`bench/c/forkexec.c\`: accept, fork, dup2 to 0/1, exec; reap on SIGCHLD (backlog 4096)"
		wait_port "$(port c-forkexec hello)" "${PID_OF[$s]}" && wait_port "$(port c-forkexec echo)" "${PID_OF[$s-echo]}" ||
			{ STATUS_OF[$s]="failed to start"; return 1; }
		;;
	esac
	STATUS_OF[$s]=ok
}

alive() { # alive SERVER HANDLER
	local p=${PID_OF[$1]:-}
	[[ $2 == echo && -n ${PID_OF[$1-echo]:-} ]] && p=${PID_OF[$1-echo]}
	[[ $2 == deny && -n ${PID_OF[$1-deny]:-} ]] && p=${PID_OF[$1-deny]}
	[[ -n $p ]] && kill -0 "$p" 2>/dev/null
}

rss_kb() { # rss_kb PID [FIELD]: VmRSS (or RssAnon, RssFile) of PID in KiB (0 if gone)
	local k v _ f=${2:-VmRSS}
	while read -r k v _; do
		[[ $k == "$f:" ]] && { echo "$v"; return; }
	done <"/proc/$1/status" 2>/dev/null
	echo 0
}

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || true)
[[ $CLK_TCK =~ ^[1-9][0-9]*$ ]] || CLK_TCK=100
# cpu_ticks PID [all]: utime+stime of PID in clock ticks; with "all" also
# its reaped children's (cutime+cstime). Prints nothing when
# /proc/PID/stat cannot be read.
cpu_ticks() {
	local st f
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) } # after "pid (comm) ": f[0] is field 3 (state)
	read -r -a f <<<"$st"
	((${#f[@]} > 14)) || return 0
	[[ ${f[11]}${f[12]}${f[13]}${f[14]} =~ ^[0-9]+$ ]] || return 0
	if [[ ${2:-} == all ]]; then
		echo $((f[11] + f[12] + f[13] + f[14]))
	else
		echo $((f[11] + f[12]))
	fi
}

declare -A MAXRSS=()
# load KIND SERVER HANDLER C REP PORT LOADGEN_ARGS...: one loadgen run,
# sampling the server's RSS and CPU time (own for load runs, with its
# reaped children for refusals); appends a record to $RES.
load() {
	local kind=$1 s=$2 h=$3 c=$4 rep=$5 port=$6
	shift 6
	local pid=${PID_OF[$s]:-} out=$T/lg.json lgpid r max=${MAXRSS[$s]:-0}
	[[ $h == echo && -n ${PID_OF[$s-echo]:-} ]] && pid=${PID_OF[$s-echo]}
	[[ $h == deny && -n ${PID_OF[$s-deny]:-} ]] && pid=${PID_OF[$s-deny]}
	local which="" cpu0="" cpu1="" cpuf=""
	case $kind in load) which=self ;; refuse) which=all ;; esac
	[[ -n $pid && -n $which ]] && cpu0=$(cpu_ticks "$pid" "$which")
	"$LG" -addr "127.0.0.1:$port" -c "$c" -d "${DUR}s" -json "$@" >"$out" 2>"$T/lg.err" &
	lgpid=$!
	while kill -0 "$lgpid" 2>/dev/null; do
		if [[ -n $pid && $kind == load ]]; then
			r=$(rss_kb "$pid")
			((r > max)) && max=$r
		fi
		sleep 0.2
	done
	# Refusals: let the server reap its last children (xinetd and tcpserver
	# fork before they check the rules) so their time is in cutime/cstime.
	[[ $kind == refuse ]] && sleep 0.5
	[[ -n $cpu0 ]] && cpu1=$(cpu_ticks "$pid" "$which")
	if ! wait "$lgpid" || [[ ! -s $out ]]; then
		log "loadgen failed for $kind $s $h c=$c: $(cat "$T/lg.err")"
		return 0
	fi
	[[ $kind == load ]] && MAXRSS[$s]=$max
	if [[ -n $cpu0 && -n $cpu1 ]]; then
		cpuf=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" -v ch="$([[ $which == all ]] && echo true || echo false)" \
			'BEGIN { printf ",\"cpu_s\":%.4f,\"cpu_children\":%s", (b - a) / t, ch }')
	fi
	printf '{"kind":"%s","server":"%s","handler":"%s","c":%d,"rep":%d,"r":%s%s}\n' "$kind" "$s" "$h" "$c" "$rep" "$(cat "$out")" "$cpuf" >>"$RES"
	local rate errs ok us="" cpulog=""
	rate=$(sed -n 's/.*"rate_per_s":\([0-9.]*\).*/\1/p' "$out")
	errs=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' "$out")
	ok=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$out")
	if [[ -n $cpu0 && -n $cpu1 && ${ok:-0} -gt 0 ]]; then
		us=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" -v n="$ok" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')
	fi
	[[ -n $which ]] && cpulog="  server CPU ${us:-—} µs/conn"
	log "$(printf '%-7s %-16s %-6s c=%-4d rep %d: %8.1f/s  errors %s%s' "$kind" "$s" "$h" "$c" "$rep" "${rate:-0}" "${errs:-?}" "$cpulog")"
}

# ---------------------------------------------------------------- runs
RUNNING=()
for s in $SERVERS; do
	if start_server "$s"; then
		RUNNING+=("$s")
		log "started $s (pid ${PID_OF[$s]})"
	else
		log "$s: ${STATUS_OF[$s]}"
	fi
done
((${#RUNNING[@]})) || die "no server started"
sleep 0.5
for s in "${RUNNING[@]}"; do
	printf '{"kind":"rss","server":"%s","rss_kb":%d,"note":"idle"}\n' "$s" "$(rss_kb "${PID_OF[$s]}")" >>"$RES"
done

# mark_dead SERVER WHAT: record that a server died, stop using it.
mark_dead() {
	STATUS_OF[$1]="DIED during $2"
	log "$1 died during $2"
	local keep=() x
	for x in "${RUNNING[@]}"; do [[ $x == "$1" ]] || keep+=("$x"); done
	RUNNING=("${keep[@]+"${keep[@]}"}")
}

handler_args() { # loadgen arguments per handler
	case $1 in
	hello) echo "-expect hello\n" ;;
	echo) echo "-send ping\n -expect ping\n" ;;
	esac
}

# Warm-up (not recorded): page cache, first forks.
for s in "${RUNNING[@]}"; do
	"$LG" -addr "127.0.0.1:$(port "$s" hello)" -c 8 -d 1s -expect 'hello\n' >/dev/null 2>&1 || true
done

log "TCP: $REPS reps x handlers hello echo x c in $CONCS x ${#RUNNING[@]} servers x ${DUR}s"
for ((rep = 1; rep <= REPS; rep++)); do
	for h in hello echo; do
		for c in $CONCS; do
			# Rotate the server order each repetition.
			n=${#RUNNING[@]}
			for ((i = 0; i < n; i++)); do
				s=${RUNNING[$(((i + rep - 1) % n))]}
				# shellcheck disable=SC2046
				load load "$s" "$h" "$c" "$rep" "$(port "$s" "$h")" $(handler_args "$h")
				alive "$s" "$h" || mark_dead "$s" "$h c=$c rep $rep"
				n=${#RUNNING[@]}
			done
		done
	done
done
for s in "${RUNNING[@]}"; do
	printf '{"kind":"rss","server":"%s","rss_kb":%d,"note":"load"}\n' "$s" "${MAXRSS[$s]:-0}" >>"$RES"
done

REFUSE_CONCS="1 32"
[[ $QUICK == 1 ]] && REFUSE_CONCS="32"
log "refusals from 127.0.0.2"
for ((rep = 1; rep <= REPS; rep++)); do
	for c in $REFUSE_CONCS; do
		for s in superd xinetd tcpserver; do
			[[ " ${RUNNING[*]} " == *" $s "* ]] || continue
			[[ $s == tcpserver && -z ${PID_OF[tcpserver-deny]:-} ]] && continue
			load refuse "$s" deny "$c" "$rep" "$(port "$s" deny)" -mode refuse -src 127.0.0.2
			alive "$s" deny || mark_dead "$s" "refusals"
		done
	done
done

log "UDP request/reply"
UDP_CONCS="1 8"
for ((rep = 1; rep <= REPS; rep++)); do
	for c in $UDP_CONCS; do
		if [[ " ${RUNNING[*]} " == *" superd "* ]]; then
			load udp superd-builtin udp "$c" "$rep" "$(port superd udp)" -proto udp -send 'ping\n' -expect 'ping\n' -timeout "$UDP_TIMEOUT"
			load udp superd-cat udp "$c" "$rep" "$(port superd udpcat)" -proto udp -send 'ping\n' -expect 'ping\n' -timeout "$UDP_TIMEOUT"
			alive superd udp || mark_dead superd "UDP"
		fi
		if [[ " ${RUNNING[*]} " == *" xinetd "* ]]; then
			load udp xinetd udp "$c" "$rep" "$(port xinetd udp)" -proto udp -send 'ping\n' -expect 'ping\n' -timeout "$UDP_TIMEOUT"
			alive xinetd udp || mark_dead xinetd "UDP"
		fi
	done
done

# ---------------------------------------------------------------- profile
perf_top() { # perf_top N REPORT_ARGS...: the first N lines of a perf report
	local n=$1
	shift
	{ perf report -i "$T/perf.data" "$@" 2>/dev/null | grep -v -e '^#' -e '^$' | head -n "$n"; } || true
}
if [[ $PROFILE == 1 ]]; then
	: >"$T/profile.md"
	if [[ " ${RUNNING[*]} " == *" superd "* ]] && have perf && perf record -o "$T/perf.test" -- true >/dev/null 2>&1; then
		PDUR=$((DUR < 5 ? 5 : DUR))
		log "profiling superd under hello c=32 for ${PDUR}s"
		"$LG" -addr "127.0.0.1:$(port superd hello)" -c 32 -d "$((PDUR + 2))s" -expect 'hello\n' >"$T/profile.lg" 2>&1 &
		lgpid=$!
		sleep 1
		perf record -F 1999 -g -p "${PID_OF[superd]}" -o "$T/perf.data" -- sleep "$PDUR" >"$T/perf.out" 2>&1 || true
		wait "$lgpid" || true
		{
			echo "## Profile: superd under hello, c = 32"
			echo
			echo "\`perf record -F 1999 -g -p PID\` of the superd process for ${PDUR}s; forked children are followed, and until they exec they are \`superd\` too. Load meanwhile: $(head -1 "$T/profile.lg")"
			echo
			echo "Samples by command (the rest of the machine is not recorded):"
			echo
			echo '```'
			perf_top 10 --no-children --stdio --sort comm -g none
			echo '```'
			echo
			echo "\`superd\` samples, self time by symbol:"
			echo
			echo '```'
			perf_top 45 --comms superd --no-children --stdio --sort dso,sym -g none
			echo '```'
			echo
			echo "\`superd\` samples, including callees:"
			echo
			echo '```'
			perf_top 60 --comms superd --children --stdio --sort sym -g none
			echo '```'
			echo
		} >"$T/profile.md"
	else
		log "perf not usable here: profile skipped"
		printf '## Profile\n\nSkipped: `perf` not usable (or superd not running).\n\n' >"$T/profile.md"
	fi
fi

# Errors superd logged during the runs.
if [[ -s $T/superd.log ]]; then
	SUPERD_ERRS=$(grep -c '"level":"ERROR"' "$T/superd.log" || true)
	SUPERD_WARNS=$(grep -c '"level":"WARN"' "$T/superd.log" || true)
	grep '"level":"ERROR"' "$T/superd.log" | head -5 >"$T/superd.errors" || true
fi

for s in "${RUNNING[@]}"; do
	for p in "${PID_OF[$s]}" ${PID_OF[$s-echo]:-} ${PID_OF[$s-deny]:-}; do stop "$p"; done
done
sleep 0.5

# ---------------------------------------------------------------- scale
# N services on 127.0.0.1:20000+i: start-up time, idle RSS, reload time.
log "start-up, RSS and reload with $SCALE services"
gen_superd() { # gen_superd N DIR
	mkdir -p "$2"
	{
		printf 'daemon {\n  log_format = "json"\n  shutdown_grace = "1s"\n}\n'
		for ((i = 0; i < $1; i++)); do
			printf 'service "s%d" {\n  listen  = ["127.0.0.1:%d"]\n  builtin = "discard"\n}\n' "$i" $((20000 + i))
		done
	} >"$2/services.hcl"
}
gen_xinetd() { # gen_xinetd N FILE
	{
		printf 'defaults\n{\n\tinstances = UNLIMITED\n\tcps = 100000 1\n}\n'
		for ((i = 0; i < $1; i++)); do
			printf 'service discard\n{\n\ttype = INTERNAL UNLISTED\n\tid = discard-%d\n\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tuser = root\n\tbind = 127.0.0.1\n\tport = %d\n}\n' "$i" $((20000 + i))
		done
	} >"$2"
}
log_ns() { # log_ns FILE MSG NTH: the time of the NTH log line with msg MSG, in ns
	local ts
	ts=$(grep "\"msg\":\"$2\"" "$1" | sed -n "${3}p" | sed -n 's/.*"time":"\([^"]*\)".*/\1/p')
	[[ -n $ts ]] && date -d "$ts" +%s%N
}
median3() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print -1; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
idle_sample() { # idle_sample PID T0 T1: start-up T1-T0 and, 1 s later, PID's RSS, into the scale arrays
	startups+=("$(awk -v a="$2" -v b="$3" 'BEGIN {printf "%.2f", (b-a)/1e6}')")
	sleep 1
	rsss+=("$(rss_kb "$1")")
	anons+=("$(rss_kb "$1" RssAnon)")
	files+=("$(rss_kb "$1" RssFile)")
}

for N in $SCALE; do
	if want superd; then
		d=$T/scale-superd-$N
		gen_superd "$N" "$d"
		startups=() rsss=() anons=() files=() reloads=()
		# Three starts: start-up and idle RSS are the medians (RSS moves by
		# a MiB or two from start to start); the reloads are the third's.
		for run in 1 2 3; do
			t0=$(date +%s%N)
			bg "$d.log" "$B/superd" run -config "$d"
			pid=$BGPID
			if ! wait_log "$d.log" '"msg":"ready"' 1 60 "$pid"; then
				log "superd with $N services did not start: $(tail -3 "$d.log")"
				STATUS_OF[superd]="${STATUS_OF[superd]:-}; failed to start with $N services"
				stop "$pid"
				break
			fi
			idle_sample "$pid" "$t0" "$(log_ns "$d.log" ready 1)"
			if ((run == 3)); then
				for k in 1 2 3; do
					t1=$(date +%s%N)
					kill -HUP "$pid"
					if wait_log "$d.log" '"msg":"reload(ed| failed)"' "$k" 60 "$pid" && [[ -n $(log_ns "$d.log" reloaded "$k") ]]; then
						reloads+=("$(awk -v a="$t1" -v b="$(log_ns "$d.log" reloaded "$k")" 'BEGIN {printf "%.2f", (b-a)/1e6}')")
					else
						log "superd reload $k with $N services failed: $(grep 'reload failed' "$d.log" | tail -1)"
					fi
				done
			fi
			stop "$pid"
		done
		if ((${#rsss[@]} == 3)); then
			startup=$(median3 "${startups[@]}") rss=$(median3 "${rsss[@]}") anon=$(median3 "${anons[@]}") file=$(median3 "${files[@]}")
			reload=$(median3 "${reloads[@]+"${reloads[@]}"}")
			printf '{"kind":"scale","server":"superd","services":%d,"startup_ms":%s,"rss_kb":%d,"rss_anon_kb":%d,"rss_file_kb":%d,"reload_ms":%s}\n' "$N" "$startup" "$rss" "$anon" "$file" "$reload" >>"$RES"
			log "superd with $N services: start-up ${startup} ms, RSS ${rss} KiB (anon ${anon}, file ${file}; starts: ${rsss[*]} KiB), reload ${reload} ms"
		fi
	fi
	if want xinetd && [[ -n ${BIN_OF[xinetd]:-} ]]; then
		f=$T/scale-xinetd-$N.conf
		gen_xinetd "$N" "$f"
		startups=() rsss=() anons=() files=() reloads=()
		for run in 1 2 3; do
			rm -f "$f.log"
			t0=$(date +%s%N)
			bg "$f.out" "${BIN_OF[xinetd]}" -dontfork -filelog "$f.log" -f "$f"
			pid=$BGPID
			if ! wait_port $((20000 + N - 1)) "$pid"; then
				log "xinetd with $N services did not start: $(tail -3 "$f.log" "$f.out" 2>/dev/null)"
				stop "$pid"
				break
			fi
			idle_sample "$pid" "$t0" "$(date +%s%N)"
			if ((run == 3)); then
				for k in 1 2 3; do
					t1=$(date +%s%N)
					kill -HUP "$pid"
					if wait_log "$f.log" 'Reconfigured' "$k" 60 "$pid"; then
						reloads+=("$(awk -v a="$t1" -v b="$(date +%s%N)" 'BEGIN {printf "%.2f", (b-a)/1e6}')")
					fi
				done
			fi
			stop "$pid"
		done
		if ((${#rsss[@]} == 3)); then
			startup=$(median3 "${startups[@]}") rss=$(median3 "${rsss[@]}") anon=$(median3 "${anons[@]}") file=$(median3 "${files[@]}")
			reload=$(median3 "${reloads[@]+"${reloads[@]}"}")
			printf '{"kind":"scale","server":"xinetd","services":%d,"startup_ms":%s,"rss_kb":%d,"rss_anon_kb":%d,"rss_file_kb":%d,"reload_ms":%s}\n' "$N" "$startup" "$rss" "$anon" "$file" "$reload" >>"$RES"
			log "xinetd with $N services: start-up ${startup} ms, RSS ${rss} KiB (starts: ${rsss[*]} KiB), reload ${reload} ms"
		fi
	fi
done

# ---------------------------------------------------------------- report
for s in $SERVERS; do
	printf '{"kind":"server","server":"%s","status":%s,"note":%s}\n' "$s" "$(json_str "${STATUS_OF[$s]:-not run}")" "$(json_str "${NOTE_OF[$s]:-—}")" >>"$RES"
done
{
	echo "| load average at end | $(cut -d' ' -f1-3 /proc/loadavg) |"
	echo
	[[ -n ${BUSY:-} ]] && { echo "$BUSY"; echo; }
	if [[ -n ${SUPERD_ERRS:-} ]]; then
		echo "superd logged $SUPERD_ERRS error and $SUPERD_WARNS warning lines during the load runs."
		if [[ -s $T/superd.errors ]]; then
			echo
			echo '```'
			cut -c1-300 "$T/superd.errors"
			echo '```'
		fi
		echo
	fi
} >>"$T/machine.md"

extra=()
[[ -s $T/profile.md ]] && extra=(-extra "$T/profile.md")
"$B/report" -in "$RES" -udp-timeout "$UDP_TIMEOUT" -machine "$T/machine.md" "${extra[@]+"${extra[@]}"}" >"$T/report.md"
cat "$T/report.md"
if [[ $OUT != - ]]; then
	cp "$T/report.md" "$OUT"
	log "report written to $OUT"
fi
