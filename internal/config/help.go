package config

import "strings"

// Help lists every variable with its default and meaning, for `bff help`.
func Help() string {
	var b strings.Builder
	for _, v := range Variables() {
		b.WriteString("  " + v.names())
		switch {
		case v.Required:
			b.WriteString("  (required)")
		case v.Default != "":
			b.WriteString("  (default " + v.Default + ")")
		}
		b.WriteString("\n      " + v.Help + "\n")
	}
	return b.String()
}
