// RFC 9162 proofs checked in the page with WebCrypto SHA-256: inclusion (2.1.3.2) and consistency (2.1.4.2).
"use strict";
(function () {
  function b64(s) { const bin = atob(s); const out = new Uint8Array(bin.length); for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return out; }
  function same(a, b) { if (a.length !== b.length) return false; for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }
  async function node(l, r) {
    const buf = new Uint8Array(1 + l.length + r.length); buf[0] = 1; buf.set(l, 1); buf.set(r, 1 + l.length);
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  }
  async function inclusionRoot(leaf, index, size, proof) {
    if (!(index >= 0 && index < size)) throw new Error("leaf index not below tree size");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Error("proof too long");
      if ((fn & 1) || fn === sn) { r = await node(p, r); while (!(fn & 1) && fn !== 0) { fn >>= 1; sn >>= 1; } }
      else { r = await node(r, p); }
      fn >>= 1; sn >>= 1;
    }
    if (sn !== 0) throw new Error("proof too short");
    return r;
  }
  async function consistent(size1, size2, proof, root1, root2) {
    if (!(0 <= size1 && size1 <= size2)) throw new Error("sizes out of order");
    if (size1 === size2) { if (proof.length || !same(root1, root2)) throw new Error("equal sizes, different roots"); return; }
    if (size1 === 0 || !proof.length) throw new Error("empty proof");
    const path = proof.slice();
    if ((size1 & (size1 - 1)) === 0) path.unshift(root1);
    let fn = size1 - 1, sn = size2 - 1;
    while (fn & 1) { fn >>= 1; sn >>= 1; }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) throw new Error("proof too long");
      if ((fn & 1) || fn === sn) { fr = await node(c, fr); sr = await node(c, sr); while (!(fn & 1) && fn !== 0) { fn >>= 1; sn >>= 1; } }
      else { sr = await node(sr, c); }
      fn >>= 1; sn >>= 1;
    }
    if (sn !== 0) throw new Error("proof too short");
    if (!same(fr, root1)) throw new Error("does not lead to the first root");
    if (!same(sr, root2)) throw new Error("does not lead to the second root");
  }
  function list(s) { return s ? s.split(" ").filter(Boolean).map(b64) : []; }
  async function check(el) {
    const out = el.querySelector(".result");
    try {
      if (!window.crypto || !crypto.subtle) throw new Error("this browser has no WebCrypto here");
      if (el.dataset.kind === "inclusion") {
        if (!el.dataset.root) throw new Error("no verified root to compare with");
        const root = await inclusionRoot(b64(el.dataset.leafHash), Number(el.dataset.index), Number(el.dataset.size), list(el.dataset.proof));
        if (!same(root, b64(el.dataset.root))) throw new Error("the proof leads to another root");
        out.textContent = "the audit path leads from the leaf hash to the checkpoint's root";
      } else {
        await consistent(Number(el.dataset.first), Number(el.dataset.second), list(el.dataset.proof), b64(el.dataset.root1), b64(el.dataset.root2));
        out.textContent = "consistent";
      }
      el.classList.remove("pending"); el.classList.add("pass"); el.dataset.verdict = "pass";
    } catch (e) {
      out.textContent = "fails: " + e.message;
      el.classList.remove("pending"); el.classList.add("fail"); el.dataset.verdict = "fail";
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-kind]").forEach(check);
  });
})();
