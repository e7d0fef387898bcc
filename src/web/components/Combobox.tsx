// A picker with type-to-filter: an input whose list narrows as one types; Enter takes the first
// match (or the highlighted one), Escape closes, arrows move.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";

export interface Option {
  value: string;
  label?: string;
  hint?: string;
}

interface Props {
  name: string;
  placeholder: string;
  value: string;
  options: Option[];
  onChange: (value: string) => void;
  disabled?: boolean;
  /** Label of the "" option (all pods, all containers), when there is one. */
  allLabel?: string;
}

export function Combobox({ name, placeholder, value, options, onChange, disabled, allLabel }: Props) {
  const [text, setText] = useState<string | undefined>(undefined);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const shown = useMemo(() => {
    const all: Option[] = allLabel === undefined ? options : [{ value: "", label: allLabel }, ...options];
    const needle = (text ?? "").toLowerCase();
    return needle === "" ? all : all.filter((o) => (o.label ?? o.value).toLowerCase().includes(needle));
  }, [options, text, allLabel]);
  useEffect(() => setActive(0), [text, open]);

  const pick = (o: Option | undefined) => {
    setOpen(false);
    setText(undefined);
    input.current?.blur();
    if (o !== undefined && o.value !== value) onChange(o.value);
  };
  const current = value === "" && allLabel !== undefined ? allLabel : value;

  return (
    <div class="combo" data-name={name}>
      <input
        ref={input}
        name={name}
        aria-label={placeholder}
        placeholder={placeholder}
        autocomplete="off"
        spellcheck={false}
        disabled={disabled}
        value={text ?? current}
        onFocus={() => {
          setText("");
          setOpen(true);
        }}
        onBlur={() => {
          // A click on an option lands first (mousedown prevents the blur from closing early).
          setOpen(false);
          setText(undefined);
        }}
        onInput={(e) => {
          setText((e.target as HTMLInputElement).value);
          setOpen(true);
        }}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") setActive((a) => Math.min(a + 1, shown.length - 1));
          else if (e.key === "ArrowUp") setActive((a) => Math.max(a - 1, 0));
          else if (e.key === "Enter") pick(shown[active]);
          else if (e.key === "Escape") {
            setOpen(false);
            input.current?.blur();
          } else return;
          e.preventDefault();
        }}
      />
      {open && (
        <ul class="combo-list" role="listbox">
          {shown.length === 0 && <li class="combo-empty">no match</li>}
          {shown.slice(0, 500).map((o, i) => (
            <li
              key={o.value}
              role="option"
              aria-selected={i === active}
              class={i === active ? "active" : ""}
              data-value={o.value}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(o);
              }}
              onMouseEnter={() => setActive(i)}
            >
              <span>{o.label ?? o.value}</span>
              {o.hint && <small>{o.hint}</small>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
