#!/usr/bin/env bash
# tests/deb/run.sh (make test-deb): the Debian package, for real, on this
# machine.  Builds it (make deb-build), shows its contents, installs it with
# dpkg -i, starts it with the init script, checks `status`, an echo through
# the packaged listener with sockserv-client, sockserv-stat run as the
# sockserv user, a reinstall (the edited conffile is kept), the commented
# file-log alternative and its logrotate postrotate (sockserv -s reopen),
# stops it, removes the package (conffiles kept), purges it and checks that
# nothing is left: files, directories, init links, processes.
#
# It runs as root only (dpkg -i), with the build tools present (make deb
# installs them; this test does not), and on a machine where nothing of
# sockserv is installed yet: otherwise it says why and skips.  It leaves
# the machine as it found it, on failure too: the trap stops the server by
# its pid, purges the package and removes the user the package created (the
# package itself keeps it on purge, as Debian does for system users).
#
# The packaged listeners' ports (7000...) are rewritten in the installed
# conffile to free ones before the start, so the test does not collide
# with other tests or servers; the conffile is purged with the package.
set -euo pipefail
cd "$(dirname "$0")/../.."
MAKE=${MAKE:-make}

skip() { echo "test-deb: skipped: $*"; exit 0; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
step() { echo "== test-deb: $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (it installs the package with dpkg -i)"
for tool in dpkg-buildpackage dh dpkg-deb dpkg-architecture; do
	command -v "$tool" >/dev/null 2>&1 ||
		skip "$tool is not installed (make deb installs dpkg-dev and debhelper)"
done
pkg-config --exists libconfig 2>/dev/null ||
	skip "libconfig-dev is not installed (make deb installs it)"
command -v adduser >/dev/null 2>&1 || skip "adduser is not installed (the package depends on it)"
command -v runuser >/dev/null 2>&1 || skip "runuser is not installed (util-linux)"

# Never disturb a sockserv that is here already (a package or make install).
if dpkg-query -W -f='${db:Status-Status}' sockserv 2>/dev/null | grep -qv '^not-installed$'; then
	skip "a sockserv package is on this machine already ($(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' sockserv))"
fi
PKG_PATHS="/usr/sbin/sockserv /usr/bin/sockserv-stat /usr/bin/sockserv-client
	/usr/bin/sockserv-bench /etc/sockserv /etc/init.d/sockserv /etc/default/sockserv
	/etc/logrotate.d/sockserv /lib/systemd/system/sockserv.service /var/log/sockserv
	/run/sockserv /usr/share/doc/sockserv /usr/share/man/man8/sockserv.8.gz"
for p in $PKG_PATHS; do
	[ ! -e "$p" ] || skip "$p exists: something of sockserv is installed here already"
done
# Leftovers of an init-system registration (update-rc.d, deb-systemd-helper)
leftovers() {
	local f
	for f in /etc/rc[0-6S].d/[SK][0-9][0-9]sockserv \
	    /etc/systemd/system/*.wants/sockserv.service \
	    /var/lib/systemd/deb-systemd-helper-enabled/sockserv.service.dsh-also \
	    /var/lib/systemd/deb-systemd-helper-enabled/*.wants/sockserv.service \
	    /var/lib/systemd/deb-systemd-helper-masked/sockserv.service; do
		if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi
	done
	return 0
}
[ -z "$(leftovers)" ] || skip "init links of sockserv exist already: $(leftovers | xargs)"
user_existed=0; group_existed=0
getent passwd sockserv >/dev/null && user_existed=1
getent group sockserv >/dev/null && group_existed=1

deb_version=$(dpkg-parsechangelog -S Version)
deb_arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=build/pkg/sockserv_${deb_version}_${deb_arch}.deb
tmp=$(mktemp -d /tmp/sockserv-test-deb.XXXXXX)
master_pid=

# processes running /usr/sbin/sockserv (also a deleted one) or as the user
sockserv_procs() {
	local d exe uid
	uid=$(id -u sockserv 2>/dev/null || echo none)
	for d in /proc/[0-9]*; do
		exe=$(readlink "$d/exe" 2>/dev/null) || continue
		case "$exe" in
		/usr/sbin/sockserv|"/usr/sbin/sockserv (deleted)")
			echo "${d#/proc/}"; continue ;;
		esac
		if [ "$uid" != none ] && [ "$(stat -c %u "$d")" = "$uid" ]; then
			echo "${d#/proc/}"
		fi
	done
	return 0
}

cleanup() {
	local rc=$?
	trap - EXIT
	set +e
	# the master we started, by its pid: TERM (fast stop), then KILL;
	# its workers die with it (PR_SET_PDEATHSIG)
	if [ -n "$master_pid" ] && kill -0 "$master_pid" 2>/dev/null; then
		echo "test-deb: cleanup: stopping master $master_pid"
		kill -TERM "$master_pid"
		for _ in $(seq 50); do kill -0 "$master_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$master_pid" 2>/dev/null
	fi
	if dpkg-query -W -f='${db:Status-Status}' sockserv 2>/dev/null | grep -qv '^not-installed$'; then
		echo "test-deb: cleanup: dpkg --purge sockserv"
		dpkg --purge sockserv >/dev/null
	fi
	if [ "$user_existed" = 0 ] && getent passwd sockserv >/dev/null; then
		userdel sockserv
	fi
	if [ "$group_existed" = 0 ] && getent group sockserv >/dev/null; then
		groupdel sockserv
	fi
	rm -rf "$tmp"
	[ "$rc" = 0 ] || echo "test-deb: FAILED (status $rc); the machine was cleaned up" >&2
	exit "$rc"
}
trap cleanup EXIT
# interrupted or killed: exit, so that the EXIT trap cleans up
trap 'exit 130' INT
trap 'exit 143' TERM HUP

step "build: make deb-build"
"$MAKE" --no-print-directory deb-build > "$tmp/build.log" 2>&1 ||
	{ tail -40 "$tmp/build.log"; fail "the package did not build (log above)"; }
tail -3 "$tmp/build.log"
[ -f "$deb" ] || fail "$deb was not built"

step "contents of $deb"
dpkg-deb -I "$deb"
dpkg-deb -c "$deb" | tee "$tmp/contents"
for want in ./usr/sbin/sockserv ./usr/bin/sockserv-stat ./usr/bin/sockserv-client \
    ./etc/sockserv/sockserv.cfg ./etc/init.d/sockserv ./lib/systemd/system/sockserv.service \
    ./etc/logrotate.d/sockserv ./etc/default/sockserv ./usr/share/man/man8/sockserv.8.gz \
    ./usr/share/man/man5/sockserv.cfg.5.gz ./usr/share/man/man1/sockserv-stat.1.gz \
    ./usr/share/man/man1/sockserv-client.1.gz; do
	awk '{print $6}' "$tmp/contents" | grep -qxF "$want" || fail "$want is not in the package"
done
# everything belongs to root in the archive: ownership is the postinst's job
if awk '$2 != "root/root"' "$tmp/contents" | grep -q .; then
	fail "files not owned by root/root in the package"
fi
dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles | grep -qx /etc/sockserv/sockserv.cfg ||
	fail "/etc/sockserv/sockserv.cfg is not a conffile"

step "dpkg -i $deb"
# A policy-rc.d (as in containers) or the absence of an init system keeps
# the postinst from starting the server; where it does start (a machine
# booted with systemd), it is stopped below before the ports are changed.
dpkg -i "$deb"
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' sockserv)" = "ii " ] || fail "not installed"
[ "$(/usr/sbin/sockserv -V)" = "sockserv $deb_version" ] ||
	fail "sockserv -V says '$(/usr/sbin/sockserv -V)', the package is $deb_version"

step "the system user and the log directory"
getent passwd sockserv || fail "no user sockserv"
getent group sockserv || fail "no group sockserv"
uid=$(id -u sockserv)
[ "$uid" -lt 1000 ] || fail "sockserv is not a system user (uid $uid)"
shell=$(getent passwd sockserv | cut -d: -f7)
case "$shell" in */nologin|/bin/false) ;; *) fail "sockserv has a login shell: $shell" ;; esac
[ "$(stat -c '%U:%G %a' /var/log/sockserv)" = "root:sockserv 750" ] ||
	fail "/var/log/sockserv is $(stat -c '%U:%G %a' /var/log/sockserv), want root:sockserv 750"
cfg=/etc/sockserv/sockserv.cfg
grep -qx 'user = "sockserv";' "$cfg" || fail "$cfg does not run the workers as sockserv"
grep -qE '^[[:space:]]*target = "syslog";' "$cfg" || fail "$cfg does not log to syslog"
grep -qE '^[[:space:]]*# target = "/var/log/sockserv/sockserv.log";' "$cfg" ||
	fail "$cfg has no commented file-log alternative"
grep -E '^[[:space:]]*address = ' "$cfg" | grep -vq '"127.0.0.1"' &&
	fail "a packaged listener is not on 127.0.0.1"
if [ -s /run/sockserv/sockserv.pid ]; then
	echo "the postinst started the server: stopping it before the ports are changed"
	/etc/init.d/sockserv stop
fi

# Free TCP ports: not bound by anyone now (every state in /proc/net/tcp*).
used_ports() {
	local hex
	awk 'FNR > 1 { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		sort -u | while read -r hex; do echo $((16#$hex)); done
}
# Drawn outside the kernel's ephemeral range, where outgoing connections
# (other tests' clients) take their local ports between probe and bind.
free_ports() {	# N: N distinct ports not in use
	local n=$1 p got=" " lo hi base span
	local used; used=" $(used_ports | xargs) "
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
	if [ "$lo" -gt 12000 ]; then base=10000; span=$((lo - 10000))
	elif [ "$hi" -lt 63000 ]; then base=$((hi + 1)); span=$((65535 - hi))
	else base=20000; span=20000; fi
	while [ "$n" -gt 0 ]; do
		p=$((base + (RANDOM * 32768 + RANDOM) % span))
		case "$used$got" in *" $p "*) continue ;; esac
		got="$got$p "; n=$((n - 1))
	done
	echo "${got# }"
}
cp "$cfg" "$tmp/packaged.cfg"
nports=$(grep -cE '^[[:space:]]*port = [0-9]+;' "$cfg")
[ "$nports" -ge 1 ] || fail "no listener port in $cfg"

started=0
for _ in 1 2 3; do
	read -r -a ports <<< "$(free_ports "$nports")"
	awk -v ports="${ports[*]}" 'BEGIN { n = split(ports, p, " "); i = 0 }
	    /^[[:space:]]*port = [0-9]+;$/ { sub(/[0-9]+/, p[++i]) } { print }' \
		"$tmp/packaged.cfg" > "$cfg"
	step "start (listener ports ${ports[*]}): /etc/init.d/sockserv start"
	if /etc/init.d/sockserv start > "$tmp/start.out" 2>&1; then
		cat "$tmp/start.out"; started=1; break
	fi
	cat "$tmp/start.out"
	# a port taken between the probe and the bind: again with others
	grep -q 'in use' "$tmp/start.out" || break
done
[ "$started" = 1 ] || fail "/etc/init.d/sockserv start failed"
master_pid=$(cat /run/sockserv/sockserv.pid)
[ "$(readlink "/proc/$master_pid/exe")" = /usr/sbin/sockserv ] ||
	fail "pid $master_pid in the pid file is not /usr/sbin/sockserv"
# the frame echo listener: the first one, "long"
echo_port=${ports[0]}
grep -A8 'name = "long";' "$cfg" | grep -q 'codec = "frame";' ||
	fail "the first packaged listener is not the frame echo one"

step "status"
/etc/init.d/sockserv status || fail "status says not running (status $?)"
workers=$(ps -o user= --ppid "$master_pid" | sort | uniq -c | xargs)
echo "master $master_pid runs as $(ps -o user= -p "$master_pid" | xargs); its workers: $workers"
case "$workers" in *" sockserv") ;; *) fail "the workers do not run as sockserv: $workers" ;; esac

step "client echo: sockserv-client -p $echo_port -n 3 -i 0"
sockserv-client -p "$echo_port" -n 3 -i 0 -m " packaged" | tee "$tmp/client.out"
for k in 1 2 3; do
	grep -q "reply $k: $k packaged\$" "$tmp/client.out" || fail "no echo of message $k"
done
grep -q '^closed by client' "$tmp/client.out" || fail "the client did not end the connection itself"

step "sockserv-stat as the sockserv user"
runuser -u sockserv -- sockserv-stat | tee "$tmp/stat.out"
runuser -u sockserv -- sockserv-stat --json > "$tmp/stat.json" || fail "sockserv-stat --json failed"
grep -q "\"master_pid\":$master_pid," "$tmp/stat.json" || fail "sockserv-stat shows another master"
accepted=$(grep -o '"connections":[0-9]*,"accepted":[0-9]*' "$tmp/stat.json" |
	awk -F: '{ s += $3 } END { print s + 0 }')
echo "accepted, all workers: $accepted"
[ "$accepted" -ge 1 ] || fail "sockserv-stat counts no accepted connection"

step "dpkg -i again (a reinstall) keeps the edited conffile and the server"
cp "$cfg" "$tmp/edited.cfg"
dpkg -i "$deb"
cmp -s "$cfg" "$tmp/edited.cfg" || fail "the reinstall replaced the edited $cfg"
ls /etc/sockserv/*.dpkg-* 2>/dev/null && fail "the reinstall left dpkg copies of $cfg"
/etc/init.d/sockserv status || fail "not running after the reinstall"
# a postinst allowed to restart it (no policy-rc.d) started a new master
master_pid=$(cat /run/sockserv/sockserv.pid)
sockserv-client -p "$echo_port" -n 1 -q | grep -q '^closed by client' ||
	fail "no echo after the reinstall"

step "the file-log alternative and /etc/logrotate.d/sockserv"
sed -i -e 's|^\([[:space:]]*\)target = "syslog";$|\1target = "/var/log/sockserv/sockserv.log";|' "$cfg"
cp "$cfg" "$tmp/edited.cfg"
/etc/init.d/sockserv restart || fail "restart with the file log failed"
master_pid=$(cat /run/sockserv/sockserv.pid)
log=/var/log/sockserv/sockserv.log
[ -f "$log" ] || fail "no $log after the restart"
[ "$(stat -c %U "$log")" = sockserv ] || fail "$log belongs to $(stat -c %U "$log"), not sockserv"
cat "$log"
grep -q 'worker 0 started' "$log" || fail "$log has no start-up line"
if command -v logrotate >/dev/null 2>&1; then
	echo "logrotate -f /etc/logrotate.d/sockserv"
	logrotate -f -s "$tmp/logrotate.state" /etc/logrotate.d/sockserv ||
		fail "logrotate failed"
else
	# the same steps by hand: move, then the file's own postrotate script
	echo "logrotate is not installed: moving the file and running the postrotate script"
	mv "$log" "$log.1"
	sed -n '/^[[:space:]]*postrotate$/,/^[[:space:]]*endscript$/p' /etc/logrotate.d/sockserv |
		sed '1d;$d' > "$tmp/postrotate.sh"
	cat "$tmp/postrotate.sh"
	sh -e "$tmp/postrotate.sh" || fail "the postrotate script failed"
fi
for _ in $(seq 50); do grep -qs 'log reopened' "$log" && break; sleep 0.1; done
[ -f "$log" ] || fail "no new $log after the rotation"
[ "$(stat -c '%U:%G %a' "$log")" = "sockserv:sockserv 640" ] ||
	fail "the new $log is $(stat -c '%U:%G %a' "$log"), want sockserv:sockserv 640"
grep -q 'log reopened' "$log" || fail "the server did not reopen $log after the rotation"
grep -q 'log reopened' "$log.1" && fail "the reopen was written to the rotated file"
# the workers reopen after the master, by the path, as sockserv: none may
# keep writing to the rotated file
holders() {	# FILE: pids of the server's processes with FILE open
	local pid fd
	for pid in "$master_pid" $(ps -o pid= --ppid "$master_pid"); do
		for fd in /proc/"$pid"/fd/*; do
			[ "$(readlink "$fd" 2>/dev/null)" = "$1" ] && { echo "$pid"; break; }
		done
	done
	return 0
}
for _ in $(seq 50); do [ -z "$(holders "$log.1")" ] && break; sleep 0.1; done
[ -z "$(holders "$log.1")" ] || fail "still writing to $log.1: pids $(holders "$log.1" | xargs)"
echo "processes with $log open: $(holders "$log" | xargs) (master $master_pid and its workers)"
[ "$(holders "$log" | wc -l)" -eq $((1 + $(ps -o pid= --ppid "$master_pid" | wc -l))) ] ||
	fail "not every process of the server has the new $log open"
echo "after the rotation: $(cd /var/log/sockserv && echo *); $log:"; cat "$log"
sockserv-client -p "$echo_port" -n 1 -q | grep -q '^closed by client' ||
	fail "no echo after the reopen"

step "stop"
/etc/init.d/sockserv stop || fail "stop failed"
for _ in $(seq 50); do kill -0 "$master_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$master_pid" 2>/dev/null && fail "master $master_pid still runs after stop"
echo "(status must now say not running)"
rc=0; /etc/init.d/sockserv status || rc=$?
[ "$rc" = 3 ] || fail "status after stop is $rc, want 3 (not running)"

step "dpkg --remove sockserv: the programs go, the configuration stays"
dpkg --remove sockserv
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' sockserv)" = "rc " ] || fail "not in state rc"
for p in /usr/sbin/sockserv /usr/bin/sockserv-stat /usr/bin/sockserv-client; do
	[ ! -e "$p" ] || fail "$p is still there after --remove"
done
cmp -s "$cfg" "$tmp/edited.cfg" || fail "$cfg is gone or changed after --remove"
[ ! -x /etc/init.d/sockserv ] || fail "/etc/init.d/sockserv is still executable after --remove"
echo "kept: $(dpkg-query -W -f='${Conffiles}' sockserv | awk 'NF { print $1 }' | xargs)"

step "dpkg --purge sockserv"
dpkg --purge sockserv
master_pid=
left=""
for p in $PKG_PATHS; do [ ! -e "$p" ] || left="$left $p"; done
left="$left $(leftovers | xargs)"
procs=$(sockserv_procs | xargs)
[ -z "$procs" ] || left="$left processes:$procs"
dpkg-query -W -f='${db:Status-Status}' sockserv 2>/dev/null | grep -qv '^not-installed$' &&
	left="$left dpkg-status"
[ -z "${left// /}" ] || fail "left after the purge:$left"
echo "nothing left: no files, directories, init links or processes of sockserv"
getent passwd sockserv >/dev/null &&
	echo "the user sockserv stays after the purge (Debian's way); the test removes it"
echo "test-deb: PASS"
