"""The one stylesheet of certkit's pages: cards, badges, table rows, pager, forms, modals.

ipywidgets sets ``display:flex`` on its boxes, so the hide class and the row grid need
``!important`` (ui_options.md, pitfall 5).
"""

from __future__ import annotations

import ipywidgets as widgets

CSS = """
.ck-hidden, .ck-page .ck-hidden, .ck-page .ck-row.ck-hidden, .ck-page .ck-modal.ck-hidden {
  display: none !important;
}
.ck-page {
  --ck-accent: #2563eb; --ck-accent-dark: #1d4ed8; --ck-border: #e5e7eb; --ck-muted: #6b7280;
  --ck-text: #111827; --ck-bg: #f4f6fa; --ck-danger: #dc2626;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ck-text); background: var(--ck-bg); padding: 20px 24px 32px; gap: 16px;
  max-width: 1480px; margin: 0 auto !important; box-sizing: border-box; font-size: 13px;
}
.ck-page .widget-html, .ck-page .widget-html-content {
  height: auto; line-height: 1.45; white-space: normal; margin: 0; font-size: 13px;
}
.ck-page .jupyter-widgets { margin: 0; }
.ck-page .widget-box { overflow: visible; }
.ck-page .widget-vbox > * { flex-shrink: 0; }
.ck-page code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.ck-nav { gap: 6px; }
.ck-nav-bar { gap: 12px; }
.ck-header { justify-content: space-between; align-items: center; flex-wrap: wrap; gap: 12px; }
.ck-title { display: flex; align-items: baseline; gap: 12px; }
.ck-title h1 { font-size: 22px; font-weight: 650; margin: 0; letter-spacing: -0.01em; }
.ck-cluster { color: var(--ck-muted); font-size: 13px; }
.ck-actions, .ck-inline { gap: 8px; flex-wrap: wrap; align-items: center; }
.ck-cards { gap: 16px; align-items: stretch; }
.ck-cards > .ck-card { flex: 1 1 0; min-width: 0; }
.ck-card {
  background: #fff; border: 1px solid var(--ck-border); border-radius: 10px;
  box-shadow: 0 1px 2px rgba(16, 24, 40, 0.05); padding: 16px 20px; gap: 8px;
}
.ck-card-title { font-size: 15px; font-weight: 650; margin: 0 0 4px; }
.ck-subtitle { font-size: 12px; font-weight: 650; color: var(--ck-muted); margin: 8px 0 0;
  text-transform: uppercase; letter-spacing: 0.04em; }
.ck-note { color: #374151; margin: 0; }
.ck-hint, .ck-muted { color: var(--ck-muted); font-size: 12px; }
.ck-empty { color: var(--ck-muted); margin: 4px 0; font-style: italic; }
.ck-page .ck-button {
  width: auto; flex: 0 0 auto; height: 32px; padding: 0 12px; border-radius: 6px; font-size: 13px;
  border: 1px solid #d1d5db; background: #fff; color: #111827; box-shadow: none;
}
.ck-page .ck-button:hover:enabled { background: #f3f4f6; box-shadow: none; }
.ck-page .ck-button.mod-primary, .ck-page .ck-button.mod-primary:hover:enabled {
  background: var(--ck-accent); border-color: var(--ck-accent); color: #fff; }
.ck-page .ck-button.mod-primary:hover:enabled { background: var(--ck-accent-dark); }
.ck-page .ck-button.mod-danger, .ck-page .ck-button.mod-danger:hover:enabled {
  background: var(--ck-danger); border-color: var(--ck-danger); color: #fff; }
.ck-page .ck-button.mod-info { background: #eff6ff; border-color: #bfdbfe; color: #1e40af; }
.ck-page .ck-button.ck-small { height: 26px; padding: 0 8px; font-size: 12px; }
.ck-page .ck-danger-text { color: var(--ck-danger); }
.ck-page .ck-button:disabled { opacity: 0.45; }
.ck-page .widget-upload { width: auto; height: 32px; border-radius: 6px; }
.ck-page .ck-input { width: auto; height: auto; margin: 0; }
.ck-page .ck-input input, .ck-page .ck-input select {
  height: 32px; border: 1px solid #d1d5db; border-radius: 6px; padding: 0 8px;
  font-size: 13px; background: #fff; color: var(--ck-text); box-sizing: border-box;
}
.ck-page .ck-input input:focus, .ck-page .ck-input select:focus {
  outline: 2px solid #bfdbfe; border-color: var(--ck-accent); }
.ck-field { flex: 0 0 auto; min-width: 0; gap: 4px; }
.ck-row2 > .ck-field { flex: 1 1 0; }
.ck-field > .ck-input, .ck-field > .ck-expiry, .ck-field .ck-expiry .ck-input { width: 100%; }
.ck-label { font-size: 12px; font-weight: 600; color: #374151; }
.ck-row2 { gap: 16px; align-items: flex-start; }
.ck-form { gap: 14px; }
.ck-perms { gap: 6px; }
.ck-perms > .ck-button, .ck-form > .ck-button { align-self: flex-start; }
.ck-perm-row { gap: 8px; align-items: center; }
.ck-perm-row .ck-input { flex: 1 1 0; }
.ck-toolbar { gap: 8px; flex-wrap: wrap; margin-bottom: 8px; }
.ck-toolbar .ck-input { flex: 0 1 170px; }
.ck-toolbar .ck-certs-search { flex: 1 1 280px; }
.ck-rows { gap: 0; border: 1px solid var(--ck-border); border-radius: 8px; overflow: hidden; }
.ck-row {
  display: grid !important; grid-template-columns: minmax(0, 1fr) 210px; align-items: center;
  gap: 8px; padding: 8px 12px; border-bottom: 1px solid #eef0f4; margin: 0; background: #fff;
}
.ck-row:hover { background: #f9fafb; }
.ck-row-head { background: #f9fafb; color: var(--ck-muted); font-size: 11px; font-weight: 650;
  text-transform: uppercase; letter-spacing: 0.04em; }
.ck-row-head .widget-html-content { font-size: 11px; }
.ck-cells { display: grid; gap: 10px; align-items: center;
  grid-template-columns: 1.5fr 2.3fr 1.1fr 0.9fr 1.45fr 0.9fr 1.6fr 0.45fr; }
.ck-cell { min-width: 0; overflow-wrap: anywhere; }
.ck-name { font-weight: 600; }
.ck-cell-thumbprint code { font-size: 11px; color: #4b5563; }
.ck-row-actions { gap: 6px; justify-content: flex-end; }
.ck-badge { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 11px;
  font-weight: 600; line-height: 20px; white-space: nowrap; }
.ck-state-valid { background: #dcfce7; color: #166534; }
.ck-state-expiring { background: #fef3c7; color: #92400e; }
.ck-state-expired { background: #fee2e2; color: #991b1b; }
.ck-state-not-yet-valid { background: #e0e7ff; color: #3730a3; }
.ck-clr-admin { background: #ede9fe; color: #5b21b6; }
.ck-clr-operator { background: #dbeafe; color: #1e40af; }
.ck-clr-user { background: #f3f4f6; color: #374151; }
.ck-badge-2fa { background: #ccfbf1; color: #115e59; }
.ck-badge-collection { background: #f3f4f6; color: #374151; }
.ck-chip { display: inline-block; border: 1px solid var(--ck-border); background: #f9fafb;
  border-radius: 4px; font-size: 11px; padding: 0 6px; margin: 1px 2px 1px 0; }
.ck-pager { justify-content: flex-end; align-items: center; gap: 12px; margin-top: 10px; }
.ck-pageinfo { color: #374151; font-variant-numeric: tabular-nums; }
.ck-alert { padding: 10px 14px; border-radius: 8px; border: 1px solid; font-size: 13px; }
.ck-alert-success { background: #f0fdf4; border-color: #bbf7d0; color: #166534; }
.ck-alert-error { background: #fef2f2; border-color: #fecaca; color: #991b1b; }
.ck-alert-info { background: #eff6ff; border-color: #bfdbfe; color: #1e40af; }
.ck-table-plain, .ck-preview, .ck-details { width: 100%; border-collapse: collapse; }
.ck-table-plain th, .ck-preview th, .ck-details th { text-align: left; font-size: 11px;
  color: var(--ck-muted); font-weight: 650; text-transform: uppercase; padding: 6px 8px;
  border-bottom: 1px solid var(--ck-border); }
.ck-table-plain td.ck-nowrap { white-space: nowrap; }
.ck-table-plain td, .ck-preview td, .ck-details td { padding: 6px 8px;
  border-bottom: 1px solid #eef0f4; vertical-align: top; overflow-wrap: anywhere; }
.ck-details th { width: 150px; text-transform: none; font-size: 12px; }
.ck-table-plain code, .ck-preview code, .ck-wk-line code { font-size: 11px; }
.ck-refused td { color: #991b1b; }
.ck-skipped td { color: var(--ck-muted); }
.ck-wk-item { justify-content: space-between; align-items: center; gap: 8px;
  border-bottom: 1px solid #eef0f4; padding: 4px 0; }
.ck-wk-item .widget-html { flex: 1 1 auto; min-width: 0; }
.ck-wk-what { font-weight: 600; }
.ck-page .ck-modal {
  position: fixed !important; inset: 0; z-index: 1000; margin: 0 !important;
  display: flex !important; align-items: flex-start; justify-content: center;
  background: rgba(17, 24, 39, 0.45); overflow-y: auto; padding: 6vh 16px;
}
.ck-modal-card { background: #fff; border-radius: 12px; width: 580px; max-width: 100%;
  box-shadow: 0 24px 60px rgba(0, 0, 0, 0.25); padding: 20px 24px; gap: 14px; flex: 0 0 auto; }
.ck-modal-card.ck-modal-wide { width: 780px; }
.ck-modal-header { justify-content: space-between; align-items: center; }
.ck-modal-title h3 { margin: 0; font-size: 17px; font-weight: 650; }
.ck-page .ck-modal-close { border: none; width: 32px; padding: 0; color: var(--ck-muted); }
.ck-modal-body { gap: 14px; }
.ck-modal-footer { justify-content: flex-end; gap: 8px; border-top: 1px solid #eef0f4;
  padding-top: 14px; }
.ck-result-box p { margin: 0 0 8px; }
.ck-download { display: inline-block; background: var(--ck-accent); color: #fff !important;
  padding: 8px 14px; border-radius: 6px; text-decoration: none; font-weight: 600; }
.ck-download:hover { background: var(--ck-accent-dark); }
.ck-totp { gap: 10px; border: 1px solid var(--ck-border); border-radius: 8px; padding: 12px; }
.ck-totp-show { gap: 16px; align-items: center; }
.ck-secret { font-size: 14px; letter-spacing: 0.05em; display: inline-block; margin: 4px 0; }
.ck-list { margin: 4px 0; padding-left: 18px; }
.ck-collection { margin: 2px 0 0; padding-left: 18px; }
.ck-sql textarea { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px;
  min-height: 90px; width: 100%; }
.ck-page .ck-frame { overflow: auto; max-height: 480px; max-width: 100%; }
.ck-explore .widget-html, .ck-explore .widget-html-content { min-width: 0; max-width: 100%; }
.ck-frame table { border-collapse: collapse; font-size: 12px; }
.ck-frame th, .ck-frame td { padding: 4px 8px; border-bottom: 1px solid #eef0f4; text-align: left; }
"""


def stylesheet() -> widgets.HTML:
    """The stylesheet as an HTML widget holding one ``<style>`` element."""
    widget = widgets.HTML(value=f"<style>{CSS}</style>")
    widget.add_class("ck-style")
    return widget
