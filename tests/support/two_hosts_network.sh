# Sourced by the tests that run across two "hosts" on this machine: two network namespaces joined
# by a veth pair, each with its own address, as two machines on a LAN.
#
#   source two_hosts_network.sh
#   make_two_hosts    # sets ns_a ns_b (namespace names) and host_a=10.77.0.1 host_b=10.77.0.2
#
# Needs root and iproute2; exits 77 (CTest's "skipped") where namespaces or veth links cannot be
# made. The namespaces go when the calling script exits (a script with an EXIT trap of its own
# calls remove_two_hosts there).

host_a=10.77.0.1
host_b=10.77.0.2

remove_two_hosts() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}

make_two_hosts() {
  if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; then
    echo "two hosts: needs root and iproute2: skipped"
    exit 77
  fi
  local id=$$
  ns_a=mproc-a-$id ns_b=mproc-b-$id
  local veth_a=mpa$id veth_b=mpb$id
  trap remove_two_hosts EXIT
  if ! ip netns add "$ns_a" 2>/dev/null; then
    echo "two hosts: cannot create network namespaces here: skipped"
    exit 77
  fi
  # A machine that allows namespaces may still lack veth links (a container, a minimal kernel).
  if ! { ip netns add "$ns_b" &&
         ip link add "$veth_a" type veth peer name "$veth_b" &&
         ip link set "$veth_a" netns "$ns_a" &&
         ip link set "$veth_b" netns "$ns_b" &&
         ip -n "$ns_a" addr add $host_a/24 dev "$veth_a" &&
         ip -n "$ns_b" addr add $host_b/24 dev "$veth_b" &&
         ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up &&
         ip -n "$ns_a" link set "$veth_a" up &&
         ip -n "$ns_b" link set "$veth_b" up; } 2>/dev/null; then
    echo "two hosts: cannot build the two-host network here: skipped"
    exit 77
  fi
}
