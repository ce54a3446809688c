// Package cookie seals bytes into tamper-proof, encrypted strings and stores
// one such string in a browser cookie that may be split into chunks. It knows
// nothing of OAuth: bff uses it for the session (the user's token set) and for
// the short-lived login state.
//
// # Why
//
// bff is stateless: no server-side session store, so any replica can serve any
// request and a restart logs no one out. The state lives in the browser,
// which means it must be confidential (it holds refresh tokens) and
// authenticated (the browser must not be able to change it). Both come from
// one AEAD under a server-only key.
//
// # Sealed format
//
// A sealed value is a JWE compact serialization (RFC 7516), made with go-jose:
//
//	BASE64URL(protected header) . "" . BASE64URL(IV) . BASE64URL(ciphertext) . BASE64URL(tag)
//
// The protected header is {"alg":"dir","enc":"A256GCM","zip":"DEF","kid":...,"bff":PURPOSE}.
//
//   - alg "dir": the 32-byte cookie key is the AES-256-GCM key itself. There is
//     one party, so wrapping a per-message key would add bytes and nothing else;
//     the encrypted-key segment must be empty.
//   - enc "A256GCM": the protected header is the additional authenticated
//     data, so kid, zip and purpose are covered by the tag along with the
//     payload. A fresh random 96-bit IV per seal.
//   - zip "DEF": token sets are JSON with repeated keys and issuer strings, and
//     every byte saved is a byte of cookie header on every request. go-jose
//     caps inflation (250 kB, or 10x the compressed size), so a value sealed
//     with a valid key cannot be a zip bomb.
//   - kid: base64url of the first 8 bytes of SHA-256 over a fixed label and the
//     key. Open picks the one key it names and does not try the others.
//   - bff: the purpose ("session", "login", ...). Open checks it exactly, so a
//     login cookie can never be replayed as a session even under the same keys.
//
// Open refuses anything longer than MaxSealedLen before parsing, accepts only
// dir/A256GCM, and demands canonical base64url, so that one sealed value has
// exactly one spelling. Every failure wraps ErrInvalid, which callers treat
// as "no session". Errors never contain the value or any key.
//
// # Keys and rotation
//
// BFF_COOKIE_KEYS lists keys, newest first (ParseKeys). The first seals; all
// open. Open reports current=false for a value sealed with an older key so
// the caller can reseal it. To rotate: prepend a new key, deploy, wait one
// session lifetime, drop the old key.
//
// # Cookies and chunking
//
// Browsers keep at least 4096 bytes per cookie (RFC 6265 section 6.1), and
// some count the name and attributes too. A token set with an ID token
// often seals to more than that, so Chunked writes one logical cookie as NAME
// when its whole "Set-Cookie: ..." line fits in MaxLine (4096) bytes, and
// otherwise as NAME.0, NAME.1, ... each of whose lines fits, in as few chunks
// as possible. A write expires the family's cookies it did not set (a shorter
// value leaves no stale chunk behind). Read accepts only what Write leaves:
// NAME alone, or exactly NAME.0..NAME.n-1, n at most MaxChunks
// (DefaultMaxChunks is 10). Keep sessions to one or two chunks: every chunk
// rides on every request, and proxies commonly cap a request's headers at
// 8 to 16 KiB.
//
// Every cookie is Secure, HttpOnly, Path=/, with no Domain, as the __Host-
// name prefix requires, and a SameSite mode from the Chunked (Strict for the
// session; Lax for the login state, which must survive the IdP's cross-site
// redirect back).
package cookie
