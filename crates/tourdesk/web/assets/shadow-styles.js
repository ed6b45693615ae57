// A component's styles for its shadow root, without inline styles: a
// `<style>` element (or a `style` attribute) is refused by a
// Content-Security-Policy of `style-src 'self'`, ours and those of the sites
// that embed the components. A constructed stylesheet is not inline: it is
// made once per component and adopted by each instance's shadow root, so the
// components look the same under any policy.
//
//   const applyStyles = shadowStyles(CSS);
//   setHtml(this.shadowRoot, ...); applyStyles(this.shadowRoot);

const CONSTRUCTABLE = typeof CSSStyleSheet !== 'undefined' && 'replaceSync' in CSSStyleSheet.prototype
  && typeof ShadowRoot !== 'undefined' && 'adoptedStyleSheets' in ShadowRoot.prototype;

/** A function that gives a shadow root the stylesheet `cssText` (idempotent). */
export function shadowStyles(cssText) {
  if (CONSTRUCTABLE) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(cssText);
    return (root) => {
      if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
    };
  }
  // Browsers without constructed stylesheets (Safari before 16.4): a style
  // element, which works wherever the page's policy allows inline styles.
  return (root) => {
    if ([...root.children].some((el) => el.localName === 'style' && el.hasAttribute('data-tourdesk'))) return;
    const style = document.createElement('style');
    style.setAttribute('data-tourdesk', '');
    style.textContent = cssText;
    root.prepend(style);
  };
}
