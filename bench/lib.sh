# bench/lib.sh: shell functions the benchmark scripts share (run.sh, 1m.sh),
# sourced from the project root.

# a port nothing listens on (below the ephemeral range, so no client takes it meanwhile)
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
	done
}
