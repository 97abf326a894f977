"use strict";
(() => {
  const config = JSON.parse(document.getElementById("config").textContent);
  const $ = (id) => document.getElementById(id);
  const app = $("app");
  const keyInput = $("api-key");
  const fileInput = $("file");
  const form = $("options");
  const resultImg = $("result");
  const originalImg = $("original");
  const download = $("download");
  const errorBox = $("error");
  const statusLine = $("status");
  const snippetBox = $("snippet");
  const snippetKind = $("snippet-kind");
  const compare = $("compare");
  const slider = $("slider");
  const overlay = $("compare-before");
  const KEY_STORE = "bgremove.apiKey";
  const DEBOUNCE_MS = 600;

  // The API's base: the folder the page is served from. A deployed stage serves it at /<stage> or
  // /<stage>/; both call /<stage>/remove-background.
  const path = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const apiBase = new URL(path, location.origin);
  $("docs-link").href = new URL("docs", apiBase).href;

  let photo = null; // the File chosen
  let upload = null; // what is sent for it: {blob, name, note}
  let originalUrl = null;
  let resultUrl = null;
  let controller = null;
  let timer = null;
  let sequence = 0;
  let runs = 0;
  let last = null; // the last request that succeeded, for the snippets

  // ------------------------------------------------------------------------------------- helpers
  const el = (tag, attributes = {}, text) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const mb = (bytes) => (bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} KB`);
  const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`);
  // Help text with `code` spans, as the option table writes it.
  const richText = (node, text) => {
    text.split("`").forEach((part, i) => node.append(i % 2 ? el("code", {}, part) : document.createTextNode(part)));
    return node;
  };
  const setStatus = (state, text) => {
    app.dataset.status = state;
    statusLine.textContent = text;
    $("busy").hidden = state !== "busy";
  };

  // ------------------------------------------------------------------------------------- the key
  const storedKey = (() => {
    try {
      return localStorage.getItem(KEY_STORE) || "";
    } catch {
      return "";
    }
  })();
  keyInput.value = storedKey;
  if (storedKey) setStatus("idle", "Key loaded from this browser. Choose a photo.");
  keyInput.addEventListener("input", () => {
    try {
      const key = keyInput.value.trim();
      if (key) localStorage.setItem(KEY_STORE, key);
      else localStorage.removeItem(KEY_STORE);
    } catch {
      /* storage disabled: the key lasts as long as the page */
    }
  });
  keyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") run();
  });
  $("key-show").addEventListener("click", (event) => {
    const shown = keyInput.type === "password";
    keyInput.type = shown ? "text" : "password";
    event.currentTarget.setAttribute("aria-pressed", String(shown));
    event.currentTarget.textContent = shown ? "Hide" : "Show";
  });
  $("key-forget").addEventListener("click", () => {
    try {
      localStorage.removeItem(KEY_STORE);
    } catch {
      /* nothing stored */
    }
    keyInput.value = "";
    keyInput.focus();
    setStatus("idle", "Key forgotten: it is no longer kept in this browser.");
  });

  // ------------------------------------------------------------------------------------- options
  const controls = new Map(); // option name -> {option, control, picker}

  const buildOptions = () => {
    const more = el("details", { class: "more", open: "" });
    const moreFields = el("div", { class: "fields" });
    const extras = config.options.filter((option) => option.more).length;
    more.append(el("summary", {}, `More options (${extras})`), moreFields);
    for (const option of config.options) {
      const id = `option-${option.name}`;
      const helpId = `help-${option.name}`;
      const field = el("div", { class: "field" });
      let control;
      let picker = null;
      if (option.widget === "checkbox") {
        control = el("input", { type: "checkbox", id });
        const label = el("label", { class: "check", for: id });
        label.append(control, document.createTextNode(option.label));
        field.append(label);
      } else {
        field.append(el("label", { for: id }, option.label));
        if (option.widget === "select") {
          control = el("select", { id });
          for (const choice of option.choices) control.append(el("option", { value: choice.value }, choice.label));
          field.append(control);
        } else if (option.widget === "number") {
          control = el("input", { type: "number", id, inputmode: "decimal" });
          const schema = option.schema;
          if (schema.minimum !== undefined) control.min = String(schema.minimum);
          if (schema.maximum !== undefined) control.max = String(schema.maximum);
          control.step = schema.type === "integer" ? "1" : "any";
          field.append(control);
        } else if (option.widget === "color") {
          control = el("input", { type: "text", id, placeholder: "#RRGGBB", autocomplete: "off", spellcheck: "false" });
          picker = el("input", { type: "color", "aria-label": `${option.label}: colour picker`, value: "#ffffff" });
          const pair = el("div", { class: "pair" });
          pair.append(control, picker);
          field.append(pair);
          picker.addEventListener("input", () => {
            control.value = picker.value;
            changed(control);
          });
        } else {
          control = el("input", { type: "text", id, autocomplete: "off", spellcheck: "false" });
          control.placeholder = option.hint || option.placeholder || "";
          field.append(control);
        }
      }
      control.name = option.name;
      control.dataset.testid = `option-${option.name}`;
      control.setAttribute("aria-describedby", helpId);
      const help = richText(el("p", { class: "help", id: helpId }), option.schema.description || "");
      const extra = [];
      if (option.hint) extra.push(`Here: ${option.hint}.`);
      if (option.default !== null && option.widget !== "checkbox") extra.push(`API default: ${option.default}.`);
      if (option.initial !== option.default) extra.push(`The page starts at ${option.initial} so that results fit in one answer.`);
      if (extra.length) help.append(document.createTextNode(`${/[.!?)]$/.test(help.textContent) ? "" : "."} ${extra.join(" ")}`));
      field.append(help);
      (option.more ? moreFields : form).append(field);
      controls.set(option.name, { option, control, picker });
      control.addEventListener(option.widget === "checkbox" || option.widget === "select" ? "change" : "input", () => changed(control));
    }
    if (extras) form.append(more);
    resetOptions();
  };

  const resetOptions = () => {
    for (const { option, control, picker } of controls.values()) {
      const initial = option.initial ?? "";
      if (option.widget === "checkbox") control.checked = initial === "true";
      else control.value = initial;
      if (picker) picker.value = /^#[0-9a-f]{6}$/i.test(initial) ? initial : "#ffffff";
      control.removeAttribute("aria-invalid");
    }
  };

  const changed = (control) => {
    const entry = controls.get(control.name);
    if (entry && entry.picker && /^#?[0-9a-f]{6}$/i.test(control.value.trim())) {
      entry.picker.value = `#${control.value.trim().replace("#", "")}`.toLowerCase();
    }
    if (photo) schedule();
  };

  // The options whose value differs from the option table's default: what the request sends.
  const chosenOptions = () => {
    const chosen = [];
    for (const { option, control } of controls.values()) {
      const value = option.widget === "checkbox" ? String(control.checked) : control.value.trim();
      const fallback = option.default ?? "";
      if (value === "" || value === fallback) continue;
      chosen.push([option.name, value]);
    }
    return chosen;
  };

  $("reset").addEventListener("click", () => {
    resetOptions();
    if (photo) schedule();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });

  // ------------------------------------------------------------------------------------- the photo
  const choose = (file, how) => {
    if (!file) return;
    photo = file;
    upload = null;
    if (originalUrl) URL.revokeObjectURL(originalUrl);
    originalUrl = URL.createObjectURL(file);
    originalImg.hidden = false;
    $("original-empty").hidden = true;
    originalImg.src = originalUrl;
    overlay.src = originalUrl;
    $("drop-text").textContent = `${how}: ${file.name || "pasted image"} (${mb(file.size)}). Drop, paste or choose another to replace it.`;
    if (!keyInput.value.trim()) {
      setStatus("idle", "Now paste your API key (step 1), then press Remove background.");
      keyInput.focus();
      return;
    }
    run();
  };

  originalImg.addEventListener("error", () => {
    if (!originalImg.getAttribute("src")) return;
    originalImg.hidden = true;
    compare.hidden = true;
    overlay.hidden = true;
    setSplit(slider.value);
    const empty = $("original-empty");
    empty.hidden = false;
    empty.textContent = "This browser cannot show this photo (HEIC?); the service can still read it.";
  });

  fileInput.addEventListener("change", () => choose(fileInput.files[0], "Chosen"));
  document.addEventListener("paste", (event) => {
    const files = [...((event.clipboardData && event.clipboardData.files) || [])];
    const file = files.find((f) => f.type.startsWith("image/") || /\.(heic|heif)$/i.test(f.name));
    if (file) {
      event.preventDefault();
      choose(file, "Pasted");
    }
  });
  const drop = $("drop");
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) drop.classList.remove("over");
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files[0], "Dropped");
  });
  $("submit").addEventListener("click", () => run());

  // Over what the synchronous route takes in one request, the page sends a smaller copy it makes here.
  class PageError extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  const prepare = async (file) => {
    const name = (file.name || "pasted.png").replace(/[^\w.+-]+/g, "_");
    const limit = config.uploadLimitBytes;
    if (file.size <= limit) return { blob: file, name, note: "" };
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch {
      throw new PageError(
        `The photo is ${mb(file.size)}, over the ${mb(limit)} the synchronous route takes in one request, and this browser cannot decode it to send a smaller copy. Convert it to JPEG, or put it at a URL and pass image_url in the copied call.`,
        "REQUEST_TOO_LARGE",
      );
    }
    const type = /png|webp/.test(file.type) ? "image/webp" : "image/jpeg";
    const canvas = document.createElement("canvas");
    let scale = 1;
    let blob = null;
    for (let attempt = 0; attempt < 12; attempt += 1) {
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      blob = await new Promise((resolve) => canvas.toBlob(resolve, type, 0.9));
      if (blob && blob.size <= limit) break;
      scale *= 0.8;
    }
    if (!blob || blob.size > limit) throw new PageError(`The photo could not be made smaller than ${mb(limit)} here.`, "REQUEST_TOO_LARGE");
    const extension = blob.type === "image/webp" ? "webp" : blob.type === "image/png" ? "png" : "jpg";
    const smaller =
      canvas.width === bitmap.width
        ? `re-encoded in this browser as ${extension.toUpperCase()} at ${canvas.width} × ${canvas.height} px`
        : `downsized in this browser from ${bitmap.width} × ${bitmap.height} to ${canvas.width} × ${canvas.height} px (${extension.toUpperCase()})`;
    const note =
      `Your photo is ${mb(file.size)}, over the ${mb(limit)} the synchronous route takes in one request, so the page sent a copy ${smaller}: ${mb(blob.size)}. ` +
      "The copied calls name your original file: over that size, put it at a URL and pass image_url instead.";
    return { blob, name: name.replace(/\.[^.]*$/, "") + `.${extension}`, note };
  };

  // ------------------------------------------------------------------------------------- the request
  const schedule = () => {
    clearTimeout(timer);
    errorBox.hidden = true;
    setStatus("busy", "Options changed: running again…");
    timer = setTimeout(run, DEBOUNCE_MS);
  };

  const PLAIN = {
    UNAUTHORIZED: "The API key was not accepted. Check it, or make one with bgremove-keys create.",
    KEY_DISABLED: "This API key has been revoked. Make a new one with bgremove-keys create.",
    RATE_LIMITED: "Too many requests with this key just now. Wait a moment and try again.",
    SERVICE_UNAVAILABLE: "The service is busy. Try again in a few seconds.",
    INVALID_OPTION: "An option has a value the API does not accept.",
    IMAGE_TOO_LARGE: "The image is too large for the service.",
    REQUEST_TOO_LARGE: "The photo is too large to send in one request.",
    EMPTY_INPUT: "The file is empty.",
    NOT_AN_IMAGE: "The file is not an image the service can read.",
    UNSUPPORTED_FORMAT: "The service cannot read this image format.",
    CORRUPT_IMAGE: "The image file is damaged.",
    MISSING_SOURCE: "No photo was sent.",
    BAD_REQUEST: "The request could not be read.",
    RESULT_TOO_LARGE: "The result is too large for this page to show.",
    NETWORK: "The request did not complete.",
  };
  // Codes the API answers in Pixian's numbers on paths of no other dialect (gateway and handler limits).
  const NUMBERED = { 1001: "UNAUTHORIZED", 1003: "RATE_LIMITED", 1008: "IMAGE_TOO_LARGE", 1009: "REQUEST_TOO_LARGE", 1010: "BAD_REQUEST" };

  const showError = (code, message, status) => {
    const name = NUMBERED[code] || String(code || "ERROR").toUpperCase();
    const plain = PLAIN[name] || (name.startsWith("URL_") ? "The background image's URL could not be used." : "The request was refused.");
    errorBox.replaceChildren(
      el("strong", {}, plain),
      document.createTextNode(message ? `${status ? "The API says: " : ""}${message.replace(/\.?$/, ".")} ` : ""),
      el("code", {}, status ? `${name} · HTTP ${status}` : name),
    );
    errorBox.hidden = false;
    setStatus("error", "Refused: see the message below.");
  };

  const readError = async (response) => {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body.error) return { code: body.error.code, message: body.error.message };
      if (Array.isArray(body.errors) && body.errors[0]) return { code: body.errors[0].code, message: body.errors[0].detail };
      if (body.message) return { code: "ERROR", message: body.message };
    } catch {
      /* not JSON */
    }
    return { code: "ERROR", message: text.slice(0, 300) };
  };

  const run = async () => {
    clearTimeout(timer);
    const key = keyInput.value.trim();
    if (!photo) {
      setStatus("idle", "Choose a photo first (step 2).");
      fileInput.focus();
      return;
    }
    if (!key) {
      setStatus("idle", "Paste your API key first (step 1).");
      keyInput.focus();
      return;
    }
    const mine = ++sequence;
    if (controller) controller.abort();
    controller = new AbortController();
    errorBox.hidden = true;
    setStatus("busy", "Removing the background…");
    try {
      const prepared = upload || (await prepare(photo));
      if (mine !== sequence) return;
      upload = prepared;
      const options = chosenOptions();
      const body = new FormData();
      body.append(config.imageField, upload.blob, upload.name);
      for (const [name, value] of options) body.append(name, value);
      const started = performance.now();
      const response = await fetch(new URL(config.path, apiBase), {
        method: "POST",
        headers: { [config.keyHeader]: key },
        body,
        redirect: "manual",
        cache: "no-store",
        signal: controller.signal,
      });
      if (response.type === "opaqueredirect") {
        throw new PageError(
          "The cut-out is over the ~4.6 MB an answer carries, so the API stored it and answered with a redirect to the output bucket, which a page cannot follow. Lower max_pixels, choose format webp or jpeg, or run the copied curl call (-L follows the redirect).",
          "RESULT_TOO_LARGE",
        );
      }
      if (!response.ok) {
        const failure = await readError(response);
        if (mine === sequence) showError(failure.code, failure.message, response.status);
        return;
      }
      const blob = await response.blob();
      const elapsed = performance.now() - started;
      if (mine !== sequence) return;
      show(blob, response.headers, options, elapsed);
    } catch (error) {
      if (error.name === "AbortError" || mine !== sequence) return;
      if (error instanceof PageError) showError(error.code, error.message);
      else showError("NETWORK", `${error.message}. Is the server up?`);
    }
  };

  // ------------------------------------------------------------------------------------- the answer
  const EXTENSIONS = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "application/zip": "zip" };

  const show = (blob, headers, options, elapsed) => {
    const type = (blob.type || headers.get("content-type") || "").split(";")[0];
    const extension = EXTENSIONS[type] || "bin";
    const stem = upload.name.replace(/\.[^.]*$/, "") || "photo";
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    resultUrl = URL.createObjectURL(blob);
    const isImage = type.startsWith("image/");
    $("result-empty").hidden = isImage;
    $("result-empty").textContent = isImage ? "" : `The result is ${type}: download it.`;
    resultImg.hidden = !isImage;
    if (isImage) resultImg.src = resultUrl;
    else resultImg.removeAttribute("src");
    compare.hidden = !isImage || originalImg.hidden;
    overlay.hidden = compare.hidden;
    setSplit(slider.value);
    download.href = resultUrl;
    download.download = `${stem}-cutout.${extension}`;
    download.textContent = `Download ${extension.toUpperCase()} (${mb(blob.size)})`;
    download.hidden = false;
    last = { options, file: photo.name ? photo.name.replace(/[^\w.+-]+/g, "_") : upload.name, out: `${stem}-cutout.${extension}` };
    report(headers, blob, type, elapsed);
    renderSnippet();
    runs += 1;
    app.dataset.run = String(runs);
    setStatus("done", `Done in ${ms(elapsed)}.`);
  };

  const size = (text) => (text ? text.trim().split(/\s+/).join(" × ") + " px" : "unknown");
  const timings = (header) => {
    const stages = {};
    for (const part of (header || "").split(",")) {
      const match = /^\s*([\w-]+).*?dur=([\d.]+)/.exec(part);
      if (match) stages[match[1]] = Number(match[2]);
    }
    return stages;
  };

  const report = (headers, blob, type, elapsed) => {
    const rows = [];
    rows.push(["Input", `${size(headers.get("x-input-size"))} · ${mb(upload.blob.size)} ${upload.blob.type || ""}`.trim()]);
    rows.push(["Result", `${size(headers.get("x-result-size"))} · ${mb(blob.size)} ${type}`]);
    const box = (headers.get("x-result-foreground") || "").trim().split(/\s+/).map(Number);
    if (box.length === 4 && box[2] > 0) {
      const [top, left, width, height] = box;
      rows.push(["Foreground", `${width} × ${height} px at left ${left}, top ${top} (in the result)`]);
    } else {
      rows.push(["Foreground", "no subject found"]);
    }
    const backend = headers.get("x-backend");
    rows.push(["Model", `${headers.get("x-model") || "unknown"}${backend && backend !== "local" ? ` on ${backend}` : ""}`]);
    const stages = timings(headers.get("server-timing"));
    const inside = stages.total !== undefined ? `${ms(stages.total)} in the function` : "";
    const inference = stages.inference !== undefined ? ` (inference ${ms(stages.inference)})` : "";
    rows.push(["Time", `${inside}${inference}${inside ? ", " : ""}${ms(elapsed)} round trip`]);
    if (upload.note) rows.push(["Sent", upload.note]);
    $("report").replaceChildren(...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  };

  // ------------------------------------------------------------------------------------- before / after
  // The original lies over the cut-out, shown left of the slider's position (0: the cut-out alone).
  const setSplit = (value) => {
    const at = Math.min(100, Math.max(0, Number(value)));
    overlay.style.clipPath = `inset(0 ${100 - at}% 0 0)`;
    $("divider").style.left = `${at}%`;
    $("divider").hidden = overlay.hidden || at === 0;
  };
  slider.addEventListener("input", () => setSplit(slider.value));
  const stack = $("stack");
  const follow = (event) => {
    const rect = stack.getBoundingClientRect();
    slider.value = String(Math.round(((event.clientX - rect.left) / rect.width) * 100));
    setSplit(slider.value);
  };
  stack.addEventListener("pointerdown", (event) => {
    if (compare.hidden) return;
    stack.setPointerCapture(event.pointerId);
    follow(event);
  });
  stack.addEventListener("pointermove", (event) => {
    if (stack.hasPointerCapture(event.pointerId)) follow(event);
  });
  setSplit(slider.value);

  // ------------------------------------------------------------------------------------- the snippets
  const quote = (text) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`);
  const py = (text) => JSON.stringify(text);

  // The request's options in a dialect's names: [fields to send, options it cannot say]. An option is said
  // when its value differs from the dialect's own default (remove.bg's size defaults to 0.25 MP).
  const translate = (dialect, options) => {
    const given = Object.fromEntries(options);
    const send = [];
    const missing = [];
    for (const option of config.options) {
      if (option.name === "model" && dialect.versions) continue;
      const value = given[option.name] ?? option.default;
      const own = (dialect.defaults || {})[option.name] ?? option.default;
      if (value === null || value === own) continue;
      const field = dialect.fields[option.name];
      const words = (dialect.words || {})[option.name];
      const allowed = (dialect.allowed || {})[option.name];
      let said = value;
      if (words) said = Object.keys(words).find((word) => words[word] === value);
      if (!field || said === undefined || (allowed && !allowed.includes(value))) {
        missing.push(`${option.name}=${value}`);
        continue;
      }
      send.push([field, said]);
    }
    return [send, missing];
  };

  const note = (dialect, missing, hash) =>
    missing.length
      ? [`${hash} ${dialect.label} has no field or value for: ${missing.join(", ")}.`, `${hash} This request's own call (curl: this request) carries every option.`]
      : [];

  const curl = (auth, url, image, fields, comments) => {
    const args = [`curl -sSfL ${auth}`, `-F ${quote(`${image}=@${last.file}`)}`];
    for (const [name, value] of fields) args.push(`-F ${quote(`${name}=${value}`)}`);
    args.push(`-o ${quote(last.out)}`, quote(url));
    return [...comments, args.join(" \\\n    ")].join("\n");
  };

  const requestsCall = (url, auth, image, fields, comments) => {
    const data = fields.map(([name, value]) => `${py(name)}: ${py(value)}`).join(", ");
    return [
      ...comments,
      "import os",
      "",
      "import requests",
      "",
      "response = requests.post(",
      `    ${py(url)},`,
      `    ${auth},`,
      `    files={${py(image)}: open(${py(last.file)}, "rb")},`,
      `    data={${data}},`,
      ")",
      "response.raise_for_status()",
      `with open(${py(last.out)}, "wb") as out:`,
      "    out.write(response.content)",
    ].join("\n");
  };

  const snippet = (kind) => {
    const base = apiBase.href.replace(/\/$/, "");
    const keyHeader = `-H "${config.keyHeader}: $BGREMOVE_API_KEY"`;
    const pyKeyHeader = `headers={${py(config.keyHeader)}: os.environ["BGREMOVE_API_KEY"]}`;
    const nativeUrl = `${base}/${config.path}`;
    if (kind === "native-curl") return curl(keyHeader, nativeUrl, config.imageField, last.options, []);
    if (kind === "native-python") return requestsCall(nativeUrl, pyKeyHeader, config.imageField, last.options, []);
    const [dialectName, language] = kind.split("-");
    const dialect = config.dialects[dialectName];
    const [fields, missing] = translate(dialect, last.options);
    if (dialectName === "removebg") {
      const url = `${base}/${dialect.path}`;
      return language === "curl"
        ? curl(`-H "X-Api-Key: $BGREMOVE_API_KEY"`, url, dialect.image, fields, note(dialect, missing, "#"))
        : requestsCall(url, `headers={"X-Api-Key": os.environ["BGREMOVE_API_KEY"]}`, dialect.image, fields, note(dialect, missing, "#"));
    }
    if (dialectName === "pixian") {
      const url = `${base}/${dialect.path}`;
      return language === "curl"
        ? curl(`-u "$BGREMOVE_API_KEY:"`, url, dialect.image, fields, note(dialect, missing, "#"))
        : requestsCall(url, `auth=(os.environ["BGREMOVE_API_KEY"], "")`, dialect.image, fields, note(dialect, missing, "#"));
    }
    // Replicate: the version picks the model; the prediction runs as a job through the pipeline.
    const model = Object.fromEntries(last.options).model ?? "";
    let version = dialect.versions[model];
    if (version === undefined) {
      missing.push(`model=${model}`);
      version = dialect.versions[""];
    }
    const input = [`${py(dialect.image)}: open(${py(last.file)}, "rb")`, ...fields.map(([name, value]) => `${py(name)}: ${py(value)}`)];
    return [
      ...note(dialect, missing, "#"),
      "# Replicate's dialect runs as a job through the pipeline (make serve runs it too).",
      "import os",
      "",
      "import replicate",
      "",
      `client = replicate.Client(api_token=os.environ["BGREMOVE_API_KEY"], base_url=${py(base)})`,
      "output = client.run(",
      `    ${py(`${dialect.model}:${version}`)},`,
      `    input={${input.join(", ")}},`,
      ")",
      "print(output)  # the result's URL on this API; over https a FileOutput: output.read() is the image",
    ].join("\n");
  };

  const renderSnippet = () => {
    if (last) snippetBox.textContent = snippet(snippetKind.value);
  };
  snippetKind.addEventListener("change", renderSnippet);
  $("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(snippetBox.textContent);
      $("copy").textContent = "Copied";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(snippetBox);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $("copy").textContent = "Selected: Ctrl+C";
    }
    setTimeout(() => ($("copy").textContent = "Copy"), 1500);
  });

  buildOptions();
})();
