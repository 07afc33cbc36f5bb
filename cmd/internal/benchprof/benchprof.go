// Package benchprof holds what the benchmark commands share for profiling themselves.
package benchprof

import (
	"os"
	"runtime/pprof"
)

// StartCPU writes this process's CPU profile to path until the returned stop is called. With
// an empty path it does nothing (stop still may be called).
func StartCPU(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
