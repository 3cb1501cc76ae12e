#!/usr/bin/env bash
# Regenerates proto/pkg/<name>/<name>.pb.go from proto/proto/<name>.proto.
#
#   proto/generate_go.sh            regenerate into proto/pkg (the committed code)
#   proto/generate_go.sh OUT_DIR    generate into OUT_DIR instead (used by proto-check)
#
# It installs what it needs: protoc from the Debian package protobuf-compiler
# (through apt-get, when protoc is missing) and protoc-gen-gofast from
# github.com/gogo/protobuf@v1.3.2 into the repository's bin/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/proto/pkg}
gogo_version=v1.3.2

if ! command -v protoc >/dev/null 2>&1; then
	echo "protoc not found: installing the Debian package protobuf-compiler" >&2
	sudo_cmd=""
	[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
	$sudo_cmd apt-get update -qq
	$sudo_cmd apt-get install -y -qq protobuf-compiler >/dev/null
fi

if [ ! -x "$root/bin/protoc-gen-gofast" ]; then
	echo "installing protoc-gen-gofast $gogo_version into bin/" >&2
	GOBIN="$root/bin" go install "github.com/gogo/protobuf/protoc-gen-gofast@$gogo_version"
fi

cd "$root/proto/proto"
for file in *.proto; do
	name=${file%.proto}
	mkdir -p "$out/$name"
	PATH="$root/bin:$PATH" protoc -I. \
		--gofast_out=plugins=grpc,paths=source_relative:"$out/$name" "$file"
done
gofmt -s -w "$out"
