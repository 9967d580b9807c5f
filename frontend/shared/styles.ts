/** The widget's stylesheet, injected once per page. Theme variables only, so it follows Gradio themes. */

const CSS = `
.gwr-root { display: flex; flex-direction: column; gap: var(--spacing-md, 8px); min-height: 160px; position: relative; }
.gwr-label { font-size: var(--block-label-text-size, 14px); color: var(--block-label-text-color, inherit); }
.gwr-stage { position: relative; flex: 1; min-height: 100px; display: flex; align-items: center; justify-content: center;
  background: var(--background-fill-secondary, transparent); border-radius: var(--radius-lg, 8px); overflow: hidden; }
.gwr-stage video { max-width: 100%; max-height: 100%; width: 100%; object-fit: contain; background: #000; }
.gwr-stage video[hidden] { display: none; }
.gwr-mirror { transform: scaleX(-1); }
.gwr-bars { display: flex; align-items: center; gap: 3px; height: 80px; }
.gwr-bars[hidden] { display: none; }
.gwr-bar { width: 6px; height: 100%; border-radius: 3px; background: var(--gwr-pulse, var(--color-accent, #f97316));
  transform: scaleY(0.08); transition: transform 60ms linear; }
.gwr-icon-wrap { position: relative; width: 96px; height: 96px; display: flex; align-items: center; justify-content: center; }
.gwr-icon-wrap[hidden] { display: none; }
.gwr-icon { position: relative; width: 72px; height: 72px; border-radius: 50%; object-fit: cover; background: var(--gwr-icon-bg); z-index: 1; }
.gwr-pulse { position: absolute; inset: 12px; border-radius: 50%; background: var(--gwr-pulse); opacity: 0.35; transition: transform 80ms linear; }
.gwr-controls { display: flex; gap: var(--spacing-md, 8px); align-items: center; flex-wrap: wrap; }
.gwr-button, .gwr-mute, .gwr-devices { display: inline-flex; align-items: center; gap: 6px; height: 38px;
  box-sizing: border-box; padding: 0 20px !important; font-weight: 600; font-size: var(--button-large-text-size, 14px);
  border-radius: var(--button-large-radius, 8px); cursor: pointer; }
.gwr-button { border: 1px solid var(--button-primary-border-color, transparent);
  background: var(--primary-500, #f97316) !important; color: #fff !important; }
.gwr-root[data-state="connected"] .gwr-button { background: var(--button-cancel-background-fill, #ef4444) !important;
  color: var(--button-cancel-text-color, #fff); }
.gwr-button[hidden], .gwr-devices[hidden], .gwr-mute[hidden] { display: none; }
.gwr-mute, .gwr-devices { border: 1px solid var(--button-secondary-border-color, var(--border-color-primary, #ccc));
  background: var(--button-secondary-background-fill, #f3f4f6) !important; color: var(--button-secondary-text-color, inherit) !important; }
.gwr-mute:hover, .gwr-devices:hover { background: var(--button-secondary-background-fill-hover, #e5e7eb) !important; }
.gwr-mute[aria-pressed="true"] { border-color: var(--error-border-color, #fca5a5); color: var(--error-text-color, #b91c1c) !important; }
.gwr-devices { max-width: 16rem; padding: 0 12px !important; appearance: auto; }
.gwr-root[data-speaker="user"] .gwr-bar { background: var(--secondary-500, #3b82f6); }
.gwr-spinner { width: 12px; height: 12px; border-radius: 50%; border: 2px solid currentColor; border-right-color: transparent;
  animation: gwr-spin 0.8s linear infinite; }
@keyframes gwr-spin { to { transform: rotate(360deg); } }
.gwr-status { font-size: var(--text-sm, 13px); color: var(--body-text-color-subdued, #666); }
.gwr-error { font-size: var(--text-sm, 13px); color: var(--error-text-color, #b91c1c); background: var(--error-background-fill, transparent);
  border: 1px solid var(--error-border-color, #fca5a5); border-radius: var(--radius-md, 6px); padding: 4px 8px; }
.gwr-error[hidden] { display: none; }
.gwr-countdown { height: 4px; background: var(--border-color-primary, #ddd); border-radius: 2px; overflow: hidden; }
.gwr-countdown[hidden] { display: none; }
.gwr-countdown-fill { height: 100%; width: 100%; background: var(--color-accent, #f97316); }
.gwr-remote-audio { display: none; }
.gwr-stopword .gwr-stage { outline: 3px solid var(--gwr-pulse, var(--color-accent, #f97316)); }
`;

export function ensure_styles(): void {
	if (document.getElementById("gradio-webrtc-styles")) return;
	const style = document.createElement("style");
	style.id = "gradio-webrtc-styles";
	style.textContent = CSS;
	document.head.appendChild(style);
}
