#!/usr/bin/env bash
# Runs an MPI job across two "hosts" on this machine: two network namespaces joined by a veth
# pair, each with its own address, as two machines on a LAN. mpirun runs in the first and starts
# the second host's daemon through an rsh agent that enters the other namespace (on a real cluster
# the agent is ssh). Ranks talk over TCP only, as between machines.
#
#   two_hosts.sh MPIRUN PROGRAM [ARGS...]
#
# Needs root, `ip netns` and Open MPI; exits 77 (skipped) without them (see
# ../support/two_hosts_network.sh).
set -euo pipefail

mpirun=$1
shift
if ! "$mpirun" --version 2>/dev/null | grep -qE 'Open MPI|OpenRTE'; then
  echo "two_hosts: written for Open MPI's mpirun: skipped"
  exit 77
fi

source "$(dirname "$0")/../support/two_hosts_network.sh"
make_two_hosts
work=$(mktemp -d)
trap 'remove_two_hosts; rm -rf "$work"' EXIT

# Host 10.77.0.1 (2 slots: rank 0 and one worker) is where mpirun runs; 10.77.0.2 has 1 slot.
printf '10.77.0.1 slots=2\n10.77.0.2 slots=1\n' >"$work/hostfile"
# mpirun calls the agent as `agent HOST COMMAND...`, as it would call ssh.
cat >"$work/agent" <<AGENT
#!/bin/sh
host=\$1
shift
case "\$host" in
  10.77.0.2) exec ip netns exec $ns_b /bin/sh -c "\$*" ;;
  *) exec ip netns exec $ns_a /bin/sh -c "\$*" ;;
esac
AGENT
chmod +x "$work/agent"

ip netns exec "$ns_a" "$mpirun" --allow-run-as-root --oversubscribe \
  --hostfile "$work/hostfile" -n 3 \
  --mca plm_rsh_agent "$work/agent" \
  --mca btl self,tcp --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  "$@"
