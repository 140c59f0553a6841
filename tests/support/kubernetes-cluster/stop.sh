#!/usr/bin/env bash
# Stop what start.sh started, by pid, and leave nothing behind: its pods' containers, the
# kubelet's mounts, the CNI bridge, the KUBE-* iptables chains, and $STATE.
# Usage: CACHE=.tools/kubernetes STATE=/tmp/some-dir tests/support/kubernetes-cluster/stop.sh
set -u
CACHE=${CACHE:?set CACHE}; STATE=${STATE:?set STATE}
CTR=(ctr -a "$STATE/containerd/containerd.sock" -n k8s.io)
"$CACHE/bin/kubectl" --kubeconfig "$STATE/kubeconfig" delete pods --all --all-namespaces \
  --grace-period=0 --force --request-timeout=20s >/dev/null 2>&1

stop() {  # SIGTERM, then SIGKILL after 10 s
  local pid
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
}
for component in kubelet controller-manager scheduler apiserver etcd; do stop "$component"; done
for task in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s KILL "$task" 2>/dev/null; done
stop containerd
# containerd-shim processes outlive containerd: they belong to this cluster by their socket path.
pkill -9 -f "containerd-shim.*$STATE/containerd" 2>/dev/null
grep -o "$STATE/[^ ]*" /proc/mounts | sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null; done
ip link del flowuicni0 2>/dev/null
for table in filter nat mangle; do
  iptables -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed 's/^-A/-D/' \
    | while read -r rule; do iptables -t "$table" $rule 2>/dev/null; done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do
    iptables -t "$table" -F "$chain" 2>/dev/null
  done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}'); do
    iptables -t "$table" -X "$chain" 2>/dev/null
  done
done
# A sub-path mount left in place would let rm reach into the volume it binds: keep $STATE then.
if grep -q "$STATE/" /proc/mounts; then
  echo "mounts under $STATE remain; not removing it" >&2
  exit 1
fi
rm -rf "$STATE" /var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers
