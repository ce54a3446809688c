package oidc

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// passThrough are the authorization-request parameters a login may carry
// from the SPA to the IdP (OpenID Connect Core section 3.1.2.1). Each is
// checked here, so the IdP never sees what bff would not have sent itself.
func passThrough() []passThroughParam {
	return []passThroughParam{
		{"prompt", checkPrompt},
		{"login_hint", checkText(256)},
		{"ui_locales", checkLocales},
		{"acr_values", checkACRValues},
		{"max_age", checkMaxAge},
	}
}

type passThroughParam struct {
	name  string
	check func(string) error
}

// loginParams returns the pass-through parameters of a /auth/login query,
// or an error naming the first bad one.
func loginParams(q url.Values) (url.Values, error) {
	out := url.Values{}
	for _, p := range passThrough() {
		values, ok := q[p.name]
		switch {
		case !ok:
			continue
		case len(values) != 1:
			return nil, fmt.Errorf("%s: given more than once", p.name)
		}
		if err := p.check(values[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		out.Set(p.name, values[0])
	}
	return out, nil
}

func checkPrompt(v string) error {
	words := strings.Fields(v)
	if len(words) == 0 || strings.Join(words, " ") != v {
		return errors.New("must be prompt values separated by single spaces")
	}
	for i, w := range words {
		if !slices.Contains([]string{"none", "login", "consent", "select_account", "create"}, w) {
			return fmt.Errorf("unknown value %q (want none, login, consent, select_account or create)", w)
		}
		if slices.Contains(words[:i], w) {
			return fmt.Errorf("%q twice", w)
		}
	}
	if slices.Contains(words, "none") && len(words) > 1 {
		return errors.New("none cannot be combined with other values")
	}
	return nil
}

// checkText accepts printable UTF-8 of at most n bytes.
func checkText(n int) func(string) error {
	return func(v string) error {
		if v == "" || len(v) > n || !utf8.ValidString(v) {
			return fmt.Errorf("must be 1 to %d bytes of UTF-8", n)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				return errors.New("must not contain control characters")
			}
		}
		return nil
	}
}

// checkLocales accepts up to 10 BCP 47 language tags, space-separated.
func checkLocales(v string) error {
	tags := strings.Split(v, " ")
	if len(tags) > 10 {
		return errors.New("at most 10 language tags")
	}
	for _, tag := range tags {
		parts := strings.Split(tag, "-")
		for i, p := range parts {
			if p == "" || len(p) > 8 || strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" ||
				(i == 0 && strings.Trim(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "") {
				return fmt.Errorf("%q is not a language tag such as en or de-CH", tag)
			}
		}
	}
	return nil
}

// checkACRValues accepts up to 10 space-separated values of visible ASCII.
func checkACRValues(v string) error {
	values := strings.Split(v, " ")
	if len(values) > 10 || len(v) > 512 {
		return errors.New("at most 10 values and 512 bytes")
	}
	for _, a := range values {
		if a == "" {
			return errors.New("values are separated by single spaces")
		}
		for i := 0; i < len(a); i++ {
			if c := a[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return fmt.Errorf("%q has a character outside visible ASCII", a)
			}
		}
	}
	return nil
}

// checkMaxAge accepts a whole number of seconds, at most ten years.
func checkMaxAge(v string) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != v || n > 10*365*24*3600 {
		return errors.New("must be a whole number of seconds")
	}
	return nil
}
