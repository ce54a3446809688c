package cookie

import (
	"io"
	"log"
	"net/http"
	"testing"
)

// TestValidValueByte: the table holds exactly the bytes net/http sends in
// a cookie value as they are: not the ones it drops, nor space and comma,
// which it keeps but quotes the whole value for.
func TestValidValueByte(t *testing.T) {
	defer log.SetOutput(log.Writer())
	log.SetOutput(io.Discard) // net/http logs each byte it drops from a value
	for i := range 256 {
		v := string([]byte{byte(i)})
		got := (&http.Cookie{Name: "a", Value: v}).String()
		if (v == " " || v == ",") && got != `a="`+v+`"` {
			t.Errorf("net/http writes %q for a value of %q, want it quoted", got, v)
		}
		want := got == "a="+v
		if validValueByte(byte(i)) != want {
			t.Errorf("validValueByte(%#x) = %v, want %v", i, !want, want)
		}
	}
}
