package browser

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"bff/internal/bfftest/chrome"
)

// TestBrowserSignInPaths drives the ways a person meets sign-in in the
// demo: a bookmarked deep link to a protected page, a reload that signs in
// silently because the IdP still knows the browser, and cancelling at the
// IdP, which ends on bff's error page. Throughout, no token reaches
// anything the browser sees.
func TestBrowserSignInPaths(t *testing.T) {
	s := newBrowserStack(t)
	b := openTab(t, s)
	ctx, step := b.ctx, b.step
	location := func() string { return b.location("") }
	signInAtOP := b.signInAtOP

	// 1. A bookmarked deep link to a protected page, with no session
	// anywhere: bff sends the browser to sign in, and it lands on the page
	// it asked for, query and all.
	deep := s.public + "/account?tab=security"
	step("open the deep link", chromedp.Navigate(deep))
	signInAtOP("deep link")
	step("the protected page", chromedp.WaitVisible(chromedp.ID("account")), chromedp.WaitVisible(chromedp.ID("profile")))
	if loc := location(); loc != deep {
		t.Errorf("after signing in from the deep link the browser is at %s, want %s", loc, deep)
	}
	grants := s.OP.Counts().AuthCodeGrants

	// 2. bff's session is gone (another device, a cleared cookie), but the
	// IdP still knows the browser: a reload signs in without a click.
	if _, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: "__Host-bff-session", URL: s.public + "/"}); err != nil {
		t.Fatal(err)
	}
	step("reload", chromedp.Navigate(s.public+"/"), chromedp.WaitVisible(chromedp.ID("profile")))
	if loc := location(); loc != s.public+"/" {
		t.Errorf("after the silent sign-in the browser is at %s, want %s/", loc, s.public)
	}
	if c := s.OP.Counts(); c.AuthCodeGrants != grants+1 {
		t.Errorf("OP counts %+v: want one more code grant for the silent sign-in (%d before)", c, grants)
	}

	// 3. Log out, which ends the IdP's session too; signing in again shows
	// the form, and cancelling there ends on bff's error page.
	step("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	step("log in", chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.CSS(`button[name="cancel"]`)))
	// The error page names its code in a <code> element; the OP's form has
	// none.
	step("cancel at the OP", chromedp.Click(chromedp.CSS(`button[name="cancel"]`)), chromedp.WaitVisible(chromedp.CSS("main code")))
	if loc := location(); !strings.HasPrefix(loc, s.public+"/auth/callback?") {
		t.Errorf("after cancelling the browser is at %s, want bff's callback", loc)
	}
	if h1 := chrome.Eval[string](t, ctx, `document.querySelector('main h1').textContent`); h1 != "Sign-in was cancelled" {
		t.Errorf("the error page says %q", h1)
	}
	retry := chrome.Eval[string](t, ctx, `document.querySelector('main a').getAttribute('href')`)
	if retry != "/auth/login?returnTo=%2F" {
		t.Errorf("the try-again link is %q", retry)
	}
	// Styled by its one allowed inline style: the button has its colour.
	if bg := chrome.Eval[string](t, ctx, `getComputedStyle(document.querySelector('main a')).backgroundColor`); bg != "rgb(47, 91, 234)" {
		t.Errorf("the error page's link is not styled (background %s)", bg)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil || !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v", err)
	}
	// Kept with -artifacts, else removed with the test.
	shotPath := filepath.Join(t.ArtifactDir(), "cancelled.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the error page after cancelling: %s", shotPath)
	step("try again", chromedp.Click(chromedp.CSS("main a")))
	signInAtOP("try again")
	step("signed in after trying again", chromedp.WaitVisible(chromedp.ID("profile")))

	b.net.settle(t)
	items, _, errs := b.net.snapshot()
	for _, e := range errs {
		t.Errorf("network log: %s", e)
	}
	tokens := s.OP.IssuedTokens()
	if len(tokens) < 9 {
		t.Fatalf("the OP issued only %d tokens; want three sign-ins' worth", len(tokens))
	}
	leakScan(t, items, tokens, s.endSession)
	for _, p := range b.console() {
		t.Errorf("browser console: %s", p)
	}
}
