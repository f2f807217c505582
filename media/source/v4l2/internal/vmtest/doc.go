// Package vmtest runs the real camnode binary against a V4L2 camera in a VM (build tag vmtest, started by scripts/ci/vm.sh).
package vmtest
