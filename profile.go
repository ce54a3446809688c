//go:build bffprofile

// Built only with -tags bffprofile, for load measurements: when
// BFF_PROFILE_CPU names a file, bff profiles its CPU from start-up until
// it receives SIGUSR1, then writes the profile there and says so on
// stderr. Release builds have none of this.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("BFF_PROFILE_CPU")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bff: BFF_PROFILE_CPU:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "bff: BFF_PROFILE_CPU:", err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGUSR1)
	go func() {
		<-stop
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bff: BFF_PROFILE_CPU:", err)
			return
		}
		fmt.Fprintln(os.Stderr, "bff: cpu profile written")
	}()
}
