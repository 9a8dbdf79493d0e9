#!/usr/bin/env bash
# Runs manager_two_hosts across two "hosts" (network namespaces, see support/two_hosts_network.sh):
# the manager serves on host A, a client program on host B uses it over TCP.
#
#   manager_two_hosts.sh PROGRAM
#
# Exits 77 (skipped) where namespaces cannot be made.
set -euo pipefail

program=$1
source "$(dirname "$0")/support/two_hosts_network.sh"
make_two_hosts
work=$(mktemp -d)
server=
trap 'if [[ -n $server ]]; then kill -9 "$server" 2>/dev/null || true; fi; remove_two_hosts; rm -rf "$work"' EXIT

key=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=50000
ip netns exec "$ns_a" "$program" serve $port "$key" >"$work/server.out" &
server=$!
# The client on host B retries until the server is up; it kills the server at the end.
ip netns exec "$ns_b" "$program" use $host_a $port "$key" "$server"
wait "$server" 2>/dev/null || true
grep -q '^serving$' "$work/server.out"
