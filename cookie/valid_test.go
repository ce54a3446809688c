package cookie

import "testing"

// TestValidValueByte: the table holds exactly net/http's cookie-value bytes
// less space and comma, and of those none that would need quoting.
func TestValidValueByte(t *testing.T) {
	for i := range 256 {
		b := byte(i)
		want := 0x20 < b && b < 0x7f && b != '"' && b != ';' && b != '\\' && b != ','
		if validValueByte(b) != want {
			t.Errorf("validValueByte(%#x) = %v, want %v", b, !want, want)
		}
	}
}
