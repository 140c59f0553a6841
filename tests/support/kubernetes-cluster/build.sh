#!/usr/bin/env bash
# Kubernetes 1.20 for the tests' one-node cluster, built from Debian's `kubernetes` source
# package (no cluster binary can be downloaded here): kube-apiserver, controller-manager,
# scheduler, kubelet and kubectl into $CACHE/bin, with the pause container's source beside them.
# About 10 minutes on 2 cores, once per machine: nothing is done when the binaries are there.
# Usage: CACHE=.tools/kubernetes tests/support/kubernetes-cluster/build.sh
set -euo pipefail
CACHE=${CACHE:?set CACHE to the cache directory}
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
# What the cluster runs on: etcd, containerd with Debian's CNI plugins, and the build's tools.
PACKAGES=(golang-go etcd-server containerd conntrack iptables gcc buildah rsync openssl)
for tool in go etcd containerd ctr conntrack iptables gcc buildah rsync openssl; do
  command -v "$tool" >/dev/null && continue
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y "${PACKAGES[@]}" \
    || { apt-get update && apt-get install -y "${PACKAGES[@]}"; }
  break
done
[ -x "$CACHE/bin/kubectl" ] && [ -f "$CACHE/bin/pause.c" ] && exit 0

# The source package, through apt with a private deb-src list (the machine's lists untouched).
APT="$CACHE/apt"
mkdir -p "$APT/sources" "$APT/lists/partial" "$APT/cache/archives/partial" "$CACHE/src" "$CACHE/bin"
sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$APT/sources/src.sources"
APT_OPTIONS=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$APT/sources"
  -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache")
apt-get "${APT_OPTIONS[@]}" update
cd "$CACHE/src"
ls kubernetes_*.orig.tar.gz >/dev/null 2>&1 || apt-get "${APT_OPTIONS[@]}" source --download-only kubernetes
ls -d kubernetes-1.20*/ >/dev/null 2>&1 || tar xzf kubernetes_*.orig.tar.gz
cd kubernetes-1.20*/

# Offline (GOPROXY=off): the source package vendors every module.
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
GOPATH=$PWD/.go CGO_ENABLED=0 GOPROXY=off make WHAT="${BINARIES[*]/#/cmd/}"
for binary in "${BINARIES[@]}"; do cp "_output/bin/$binary" "$CACHE/bin/"; done
cp build/pause/linux/pause.c "$CACHE/bin/pause.c"
# The built source is 3 GB; the binaries are what the tests need.
cd "$CACHE" && rm -rf src apt
