#!/usr/bin/env bash
# The tests' one-node Kubernetes on 127.0.0.1, from build.sh's binaries: etcd, kube-apiserver,
# controller-manager, scheduler, containerd and the kubelet, each with its state and log under
# $STATE and its pid in $STATE/<name>.pid. Prints the kubeconfig's path once the node is Ready.
# Usage: CACHE=.tools/kubernetes STATE=/tmp/some-dir tests/support/kubernetes-cluster/start.sh
set -euo pipefail
CACHE=${CACHE:?set CACHE}; STATE=${STATE:?set STATE}
BIN=$CACHE/bin; PKI=$STATE/pki; CTRD=$STATE/containerd; KUBECONFIG_FILE=$STATE/kubeconfig
# Fixed ports: a cluster already running (another test session's) would take this one's place.
for port in 2379 2380 6443 10248 10250 10257 10259; do
  if [ -n "$(ss -Hltn "sport = :$port")" ]; then
    echo "port $port is in use: another cluster (or program) runs here; stop it first" >&2
    ss -Hltnp "sport = :$port" >&2
    exit 1
  fi
done
mkdir -p "$STATE/etcd" "$PKI" "$STATE/kubelet/root" "$STATE/kubelet/pki" "$CTRD/cni" "$CTRD/ipam"

# ProcMountType (alpha in 1.20): a container may ask for an unmasked /proc (procMount: Unmasked),
# which FlowUI's sandbox (bubblewrap) needs to mount a /proc of its own in the platform's pod.

# Keys: service-account tokens, a CA for the controller-manager's signer; one static token.
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 2 \
  -subj /CN=flowui-tests-ca 2>/dev/null
TOKEN=$(openssl rand -hex 16)
echo "$TOKEN,admin,admin,system:masters" > "$PKI/tokens.csv"
cat > "$KUBECONFIG_FILE" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: tests, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: $TOKEN}}]
contexts: [{name: tests, context: {cluster: tests, user: admin, namespace: default}}]
current-context: tests
YAML

start() {  # start NAME COMMAND...: in the background, its output in $STATE/NAME.log
  local name=$1; shift
  "$@" > "$STATE/$name.log" 2>&1 &
  echo $! > "$STATE/$name.pid"
}

start etcd etcd --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster default=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
start apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=6443 --insecure-port=0 \
  --cert-dir="$PKI" --token-auth-file="$PKI/tokens.csv" --authorization-mode=RBAC \
  --service-cluster-ip-range=10.96.0.0/16 --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --feature-gates=ProcMountType=true
# The controllers exit at once when the API server does not answer yet (a loaded machine is slow
# to start it): they start once it is ready.
kubectl_() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
for _ in $(seq 1 240); do
  kubectl_ get --raw /readyz >/dev/null 2>&1 && break
  kill -0 "$(cat "$STATE/apiserver.pid")" 2>/dev/null \
    || { echo "the API server exited:" >&2; tail -n 25 "$STATE/apiserver.log" >&2; exit 1; }
  sleep 0.5
done
start controller-manager "$BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG_FILE" \
  --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
  --leader-elect=false --bind-address=127.0.0.1 --port=0 \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --controllers='*,-nodeipam'
start scheduler "$BIN/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
  --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
  --leader-elect=false --bind-address=127.0.0.1 --port=0

# containerd: its state here, the tests' pause image, Debian's CNI plugins on a bridge of its
# own; it may not raise oom_score_adj (no CAP_SYS_RESOURCE on these machines).
containerd config default | sed \
  -e "s#^root = .*#root = \"$CTRD/root\"#" -e "s#^state = .*#state = \"$CTRD/state\"#" \
  -e "s#address = \"/run/containerd/containerd.sock\"#address = \"$CTRD/containerd.sock\"#" \
  -e 's#sandbox_image = .*#sandbox_image = "localhost/pause:latest"#' \
  -e 's#bin_dir = "/opt/cni/bin"#bin_dir = "/usr/lib/cni"#' \
  -e "s#conf_dir = \"/etc/cni/net.d\"#conf_dir = \"$CTRD/cni\"#" \
  -e 's#restrict_oom_score_adj = false#restrict_oom_score_adj = true#' > "$CTRD/config.toml"
cat > "$CTRD/cni/10-flowui-tests.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "flowui-tests", "plugins": [
  {"type": "bridge", "bridge": "flowuicni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$CTRD/ipam", "ranges": [[{"subnet": "10.244.0.0/24"}]]}},
  {"type": "loopback"}]}
JSON
start containerd containerd --config "$CTRD/config.toml"
for _ in $(seq 1 100); do [ -S "$CTRD/containerd.sock" ] && break; sleep 0.1; done

# The pause image from the Kubernetes source's pause.c (no registry can be reached), built once.
PAUSE=$CACHE/pause-image
if [ ! -f "$PAUSE/pause.tar" ]; then
  mkdir -p "$PAUSE"
  gcc -Os -static -DVERSION=flowui-tests -o "$PAUSE/pause" "$BIN/pause.c"
  buildah_() { buildah --root "$PAUSE/storage" --runroot "$PAUSE/run" --storage-driver vfs "$@"; }
  container=$(buildah_ from scratch)
  buildah_ copy "$container" "$PAUSE/pause" /pause >/dev/null
  buildah_ config --entrypoint '["/pause"]' "$container"
  buildah_ commit "$container" localhost/pause:latest >/dev/null
  buildah_ push localhost/pause:latest "oci-archive:$PAUSE/pause.tar.part:localhost/pause:latest"
  mv "$PAUSE/pause.tar.part" "$PAUSE/pause.tar"
  rm -rf "$PAUSE/storage" "$PAUSE/run"
fi
ctr -a "$CTRD/containerd.sock" -n k8s.io images import "$PAUSE/pause.tar" >/dev/null

cat > "$STATE/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
resolvConf: ""
YAML
# The node has a name of its own (not the machine's, so that where a pod ran is told from the
# worker's host); `kubectl logs` and port-forward reach its kubelet by that name.
NODE=flowui-tests-node
grep -q "^127.0.0.1 $NODE\$" /etc/hosts || echo "127.0.0.1 $NODE" >> /etc/hosts
AWS_EC2_METADATA_DISABLED=true start kubelet "$BIN/kubelet" --config="$STATE/kubelet/config.yaml" \
  --kubeconfig="$KUBECONFIG_FILE" --container-runtime=remote \
  --container-runtime-endpoint="unix://$CTRD/containerd.sock" --root-dir="$STATE/kubelet/root" \
  --cert-dir="$STATE/kubelet/pki" --hostname-override="$NODE" --feature-gates=ProcMountType=true

# Ready: the node, and the controllers (the namespace's default service account has its token).
# A component that exits fails the start at once, with its log's end.
COMPONENTS=(etcd apiserver controller-manager scheduler containerd kubelet)
for _ in $(seq 1 360); do
  node_ready=$(kubectl_ get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true)
  token=$(kubectl_ get serviceaccount default -o 'jsonpath={.secrets[0].name}' 2>/dev/null || true)
  if [ "$node_ready" = True ] && [ -n "$token" ]; then
    echo "$KUBECONFIG_FILE"
    exit 0
  fi
  for name in "${COMPONENTS[@]}"; do
    if ! kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
      echo "the cluster's $name exited; the end of $STATE/$name.log:" >&2
      tail -n 25 "$STATE/$name.log" >&2
      exit 1
    fi
  done
  sleep 0.5
done
{
  echo "the cluster was not ready after 180 s (node Ready: '${node_ready:-unknown}'," \
    "default service account token: '${token:-none}'); logs in $STATE/*.log"
  kubectl_ get node "$NODE" -o 'jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' || true
  kubectl_ get serviceaccounts,secrets -A || true
  for name in controller-manager kubelet; do
    echo "--- errors in $name.log"
    grep -E '^[EF][0-9]{4}' "$STATE/$name.log" | grep -v extension-apiserver-authentication | tail -n 15
  done
} >&2
exit 1
