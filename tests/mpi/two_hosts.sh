#!/usr/bin/env bash
# Runs an MPI job across two "hosts" on this machine: two network namespaces joined by a veth
# pair, each with its own address, as two machines on a LAN. mpirun runs in the first and starts
# the second host's daemon through an rsh agent that enters the other namespace (on a real cluster
# the agent is ssh). Ranks talk over TCP only, as between machines.
#
#   two_hosts.sh MPIRUN PROGRAM [ARGS...]
#
# Needs root, `ip netns` and Open MPI; exits 77 (skipped) without them.
set -euo pipefail

mpirun=$1
shift
if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; then
  echo "two_hosts: needs root and iproute2: skipped"
  exit 77
fi
if ! "$mpirun" --version 2>/dev/null | grep -qE 'Open MPI|OpenRTE'; then
  echo "two_hosts: written for Open MPI's mpirun: skipped"
  exit 77
fi

id=$$
ns_a=mproc-a-$id ns_b=mproc-b-$id
veth_a=mpa$id veth_b=mpb$id
work=$(mktemp -d)
cleanup() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! ip netns add "$ns_a" 2>/dev/null; then
  echo "two_hosts: cannot create network namespaces here: skipped"
  exit 77
fi
# A machine that allows namespaces may still lack veth links (a container, a minimal kernel).
if ! { ip netns add "$ns_b" &&
       ip link add "$veth_a" type veth peer name "$veth_b" &&
       ip link set "$veth_a" netns "$ns_a" &&
       ip link set "$veth_b" netns "$ns_b" &&
       ip -n "$ns_a" addr add 10.77.0.1/24 dev "$veth_a" &&
       ip -n "$ns_b" addr add 10.77.0.2/24 dev "$veth_b" &&
       ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up &&
       ip -n "$ns_a" link set "$veth_a" up &&
       ip -n "$ns_b" link set "$veth_b" up; } 2>/dev/null; then
  echo "two_hosts: cannot build the two-host network here: skipped"
  exit 77
fi

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
