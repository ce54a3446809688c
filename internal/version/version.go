// Package version says which build of bff is running.
package version

import "runtime/debug"

// stamp is set at build time:
//
//	go build -ldflags "-X bff/internal/version.stamp=1.2.3"
//
// It is written by the linker and never at run time.
var stamp = ""

// String is the stamped version, else "dev-" and the VCS revision the
// binary was built from, else the module version, else "dev".
func String() string {
	if stamp != "" {
		return stamp
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}
