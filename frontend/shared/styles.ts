/** The widget's stylesheet, injected once per page. Theme variables only, so it follows Gradio themes. */

const CSS = `
.gwr-root { display: flex; flex-direction: column; gap: var(--spacing-md, 8px); min-height: 160px; position: relative;
  max-width: 100%; min-width: 0; box-sizing: border-box; }
/* The block label badge, as Gradio's own blocks show it (BlockLabel's theme variables). */
.gwr-label { align-self: flex-start; display: inline-flex; align-items: center; gap: var(--spacing-sm, 4px);
  padding: var(--block-label-padding, 4px 8px); margin: var(--block-label-margin, 0);
  background: var(--block-label-background-fill, var(--background-fill-primary, #fff));
  border: var(--block-label-border-width, 1px) solid var(--block-label-border-color, var(--border-color-primary, #e5e7eb));
  border-radius: var(--block-label-radius, 6px); box-shadow: var(--block-label-shadow, none);
  color: var(--block-label-text-color, #6b7280); font-size: var(--block-label-text-size, 12px);
  font-weight: var(--block-label-text-weight, 400); line-height: var(--line-sm, 1.4); }
.gwr-label[hidden] { display: none; }
.gwr-stage { position: relative; flex: 1; min-height: 100px; display: flex; align-items: center; justify-content: center;
  background: var(--background-fill-secondary, transparent); border-radius: var(--radius-lg, 8px); overflow: hidden;
  max-width: 100%; }
/* Video: the stage fits the viewport, so Record/Stop and the inputs below stay in view. */
.gwr-root[data-modality="video"] .gwr-stage, .gwr-root[data-modality="audio-video"] .gwr-stage {
  aspect-ratio: 4 / 3; width: min(100%, calc(min(60vh, 720px) * 4 / 3)); align-self: center; flex: none; }
.gwr-full-screen { width: 100% !important; }
.gwr-root.gwr-full-screen .gwr-stage { aspect-ratio: 16 / 9; width: min(100%, calc((100vh - 180px) * 16 / 9)); }
.gwr-stage video { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; background: #000; }
.gwr-stage video[hidden] { display: none; }
.gwr-stage video.gwr-pip { inset: auto var(--spacing-md, 8px) var(--spacing-md, 8px) auto; width: 28%; height: auto;
  aspect-ratio: 4 / 3; object-fit: cover; border-radius: var(--radius-md, 6px); z-index: 2;
  border: 2px solid var(--background-fill-primary, #fff); box-shadow: var(--shadow-drop-lg, 0 2px 8px rgba(0,0,0,.3)); }
.gwr-mirror { transform: scaleX(-1); }
.gwr-placeholder { display: flex; flex-direction: column; align-items: center; gap: var(--spacing-md, 8px);
  color: var(--body-text-color-subdued, #6b7280); font-size: var(--text-md, 14px); text-align: center; padding: 12px; }
.gwr-placeholder[hidden] { display: none; }
.gwr-camera { height: 32px; padding: 0 14px; border-radius: var(--button-small-radius, 6px); cursor: pointer;
  font-size: var(--button-small-text-size, 13px); font-weight: var(--button-small-text-weight, 400);
  border: 1px solid var(--button-secondary-border-color, var(--border-color-primary, #ccc));
  background: var(--button-secondary-background-fill, #f3f4f6); color: var(--button-secondary-text-color, inherit); }
.gwr-camera[hidden] { display: none; }
.gwr-bars { display: flex; align-items: center; gap: 3px; height: 80px; }
.gwr-bars[hidden] { display: none; }
.gwr-bar { width: 6px; height: 100%; border-radius: 3px; background: var(--gwr-pulse, var(--color-accent, #f97316));
  transform: scaleY(0.08); transition: transform 60ms linear; }
.gwr-icon-wrap { position: relative; width: 96px; height: 96px; display: flex; align-items: center; justify-content: center; }
.gwr-icon-wrap[hidden] { display: none; }
.gwr-icon { position: relative; width: 72px; height: 72px; border-radius: var(--gwr-icon-radius, 50%); object-fit: cover;
  background: var(--gwr-icon-bg); z-index: 1; }
.gwr-pulse { position: absolute; inset: 12px; border-radius: var(--gwr-icon-radius, 50%); background: var(--gwr-pulse);
  opacity: 0.35; transition: transform 80ms linear; }
/* One row on any width: the device list gives way first. */
.gwr-controls { display: flex; gap: var(--spacing-md, 8px); align-items: center; flex-wrap: nowrap; min-width: 0; }
.gwr-button, .gwr-mute, .gwr-devices, .gwr-text-send { display: inline-flex; align-items: center; gap: 6px; height: 38px;
  box-sizing: border-box; padding: 0 20px !important; font-weight: var(--button-large-text-weight, 600);
  font-size: var(--button-large-text-size, 14px); border-radius: var(--button-large-radius, 8px); cursor: pointer;
  flex: none; white-space: nowrap; }
.gwr-button { border: 1px solid var(--button-primary-border-color, transparent);
  background: var(--button-primary-background-fill, var(--primary-500, #f97316)) !important;
  color: var(--button-primary-text-color, #fff) !important; }
.gwr-button:hover { background: var(--button-primary-background-fill-hover, var(--primary-600, #ea580c)) !important; }
.gwr-root[data-state="connected"] .gwr-button { background: var(--button-cancel-background-fill, #ef4444) !important;
  color: var(--button-cancel-text-color, #fff) !important; border-color: var(--button-cancel-border-color, transparent); }
.gwr-button[hidden], .gwr-devices[hidden], .gwr-mute[hidden], .gwr-text[hidden] { display: none; }
.gwr-mute, .gwr-text-send { border: 1px solid var(--button-secondary-border-color, var(--border-color-primary, #ccc));
  background: var(--button-secondary-background-fill, #f3f4f6) !important; color: var(--button-secondary-text-color, inherit) !important; }
.gwr-mute:hover, .gwr-text-send:hover { background: var(--button-secondary-background-fill-hover, #e5e7eb) !important; }
.gwr-mute[aria-pressed="true"] { border-color: var(--error-border-color, #fca5a5); color: var(--error-text-color, #b91c1c) !important; }
/* The device list as Gradio's dropdowns: the input's fill, border and text. */
.gwr-devices { flex: 0 1 16rem; min-width: 0; padding: 0 12px !important; appearance: auto; text-overflow: ellipsis;
  border: var(--input-border-width, 1px) solid var(--input-border-color, var(--border-color-primary, #e5e7eb));
  background: var(--input-background-fill, var(--background-fill-primary, #fff)) !important;
  color: var(--body-text-color, inherit) !important; font-weight: var(--button-large-text-weight, 600); }
.gwr-devices:focus { border-color: var(--input-border-color-focus, var(--color-accent, #f97316)); outline: none; }
.gwr-text { display: flex; gap: var(--spacing-sm, 4px); flex: 1 1 auto; min-width: 0; margin: 0; }
.gwr-text-input { flex: 1 1 auto; min-width: 0; height: 38px; box-sizing: border-box; padding: 0 10px;
  border: var(--input-border-width, 1px) solid var(--input-border-color, var(--border-color-primary, #e5e7eb));
  border-radius: var(--input-radius, 8px); background: var(--input-background-fill, #fff); color: var(--body-text-color, inherit);
  font-size: var(--input-text-size, 14px); }
.gwr-text-input:focus { border-color: var(--input-border-color-focus, var(--color-accent, #f97316)); outline: none; }
.gwr-root[data-speaker="user"] .gwr-bar { background: var(--secondary-500, #3b82f6); }
.gwr-spinner { width: 12px; height: 12px; border-radius: 50%; border: 2px solid currentColor; border-right-color: transparent;
  animation: gwr-spin 0.8s linear infinite; }
@keyframes gwr-spin { to { transform: rotate(360deg); } }
.gwr-status { font-size: var(--text-sm, 13px); color: var(--body-text-color-subdued, #666); }
.gwr-error { font-size: var(--text-sm, 13px); color: var(--error-text-color, #b91c1c); background: var(--error-background-fill, transparent);
  border: 1px solid var(--error-border-color, #fca5a5); border-radius: var(--radius-md, 6px); padding: 4px 8px; }
.gwr-error[hidden] { display: none; }
.gwr-countdown { height: 4px; flex: none; background: var(--border-color-primary, #ddd); border-radius: 2px; overflow: hidden;
  visibility: hidden; }
.gwr-countdown.gwr-counting { visibility: visible; }
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
