// The search box of the runs table: the API's filter language, completion of fields
// (and operators and known values) as you type, and the server's message under the box
// when the filter does not parse.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError } from "../api";
import { applySuggestion, complete, type Keys } from "../lib/completion";

interface Props {
  value: string;
  /** Called with the text to apply (debounced while typing; at once on Enter). */
  onApply: (text: string, opts: { replace: boolean }) => void;
  keys: Keys;
  values?: (field: string) => string[];
  error: unknown;
}

export function FilterBox({ value, onApply, keys, values, error }: Props) {
  const [text, setText] = useState(value);
  const [caret, setCaret] = useState(0);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  // Enter takes a suggestion only after the arrows picked one; otherwise it applies the filter.
  const [picked, setPicked] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const timer = useRef<number>(0);

  // The URL changed under us (Back, a link): show what it says.
  useEffect(() => {
    if (document.activeElement !== input.current) setText(value);
  }, [value]);

  const comp = useMemo(() => complete(text, caret, keys, values), [text, caret, keys, values]);
  const items = open ? comp.items.slice(0, 12) : [];

  const apply = (t: string, replace: boolean) => {
    clearTimeout(timer.current);
    onApply(t, { replace });
  };
  const change = (t: string, c: number) => {
    setText(t);
    setCaret(c);
    setOpen(true);
    setActive(0);
    setPicked(false);
    clearTimeout(timer.current);
    timer.current = window.setTimeout(() => onApply(t, { replace: true }), 450);
  };
  const choose = (i: number) => {
    const s = items[i];
    if (!s) return;
    const r = applySuggestion(text, comp, s);
    change(r.text, r.caret);
    requestAnimationFrame(() => {
      input.current?.setSelectionRange(r.caret, r.caret);
      input.current?.focus();
    });
  };

  const ferr = error instanceof ApiError && (error.code === "invalid_filter" || error.code === "invalid_argument") ? error : null;
  const listId = "filter-suggestions";

  return (
    <div class="filterbox">
      <span class="icon" aria-hidden="true">
        ⌕
      </span>
      <input
        ref={input}
        type="text"
        spellcheck={false}
        autocomplete="off"
        role="combobox"
        aria-label="Filter runs"
        aria-expanded={items.length > 0}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={items.length ? `sg-${active}` : undefined}
        aria-invalid={ferr ? "true" : "false"}
        aria-describedby="filter-msg"
        placeholder='e.g. params.lr < 0.01 and metrics.val/acc > 0.9 and status = "finished"   (/ to focus)'
        value={text}
        onInput={(e) => {
          const el = e.currentTarget;
          change(el.value, el.selectionStart ?? el.value.length);
        }}
        onClick={(e) => setCaret(e.currentTarget.selectionStart ?? 0)}
        onKeyUp={(e) => {
          if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) setCaret(e.currentTarget.selectionStart ?? 0);
        }}
        onFocus={(e) => {
          setCaret(e.currentTarget.selectionStart ?? 0);
        }}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown" && items.length) {
            e.preventDefault();
            setPicked(true);
            setActive((a) => (picked ? (a + 1) % items.length : 0));
          } else if (e.key === "ArrowUp" && items.length) {
            e.preventDefault();
            setPicked(true);
            setActive((a) => (a - 1 + items.length) % items.length);
          } else if ((e.key === "Tab" || (e.key === "Enter" && picked)) && items.length) {
            e.preventDefault();
            choose(active);
          } else if (e.key === "Enter") {
            e.preventDefault();
            setOpen(false);
            // The box's own value: `text` may not have caught up with the last keystroke yet.
            const now = e.currentTarget.value;
            setText(now);
            apply(now, false);
          } else if (e.key === "Escape") {
            if (open) setOpen(false);
            else input.current?.blur();
          } else if (e.key === " " && e.ctrlKey) {
            e.preventDefault();
            setOpen(true);
          }
        }}
      />
      {items.length > 0 && (
        <ul class="suggest" id={listId} role="listbox">
          {items.map((s, i) => (
            <li
              id={`sg-${i}`}
              key={s.label + s.detail}
              role="option"
              aria-selected={i === active}
              onMouseDown={(e) => {
                e.preventDefault();
                choose(i);
              }}
            >
              <span>{s.label}</span>
              <span class="d">{s.detail}</span>
            </li>
          ))}
        </ul>
      )}
      <div id="filter-msg" class={`filter-msg ${ferr ? "err" : "faint"}`} role={ferr ? "alert" : undefined}>
        {ferr ? ferr.message : error ? String((error as Error).message ?? error) : ""}
      </div>
    </div>
  );
}
