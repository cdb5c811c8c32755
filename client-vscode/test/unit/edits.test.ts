import "./vscodeStub";
import assert from "node:assert/strict";
import { test } from "node:test";
import type { WorkspaceEdit } from "vscode-languageserver-protocol";
import { editedUris, staleDocument } from "../../src/edits";

const range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };

const edit: WorkspaceEdit = {
  documentChanges: [
    { textDocument: { uri: "file:///w/train.py", version: 3 }, edits: [{ range, newText: "x" }] },
    { textDocument: { uri: "file:///w/model.py", version: null }, edits: [{ range, newText: "y" }] },
    { kind: "create", uri: "file:///w/new.py" },
    { kind: "rename", oldUri: "file:///w/a.py", newUri: "file:///w/b.py" },
    { kind: "delete", uri: "file:///w/gone.py" },
  ],
};

test("the edited documents are the changed, created and renamed-to files, never a deleted one", () => {
  assert.deepEqual(editedUris(edit).sort(), ["file:///w/b.py", "file:///w/model.py", "file:///w/new.py", "file:///w/train.py"]);
  assert.deepEqual(editedUris({ changes: { "file:///w/c.py": [] } }), ["file:///w/c.py"]);
});

test("a document open at another version than the edit was made for is stale", () => {
  const versions: Record<string, number> = { "file:///w/train.py": 4, "file:///w/model.py": 9 };
  assert.equal(staleDocument(edit, (uri) => versions[uri]), "file:///w/train.py");
});

test("a document at the edit's version, closed, or edited without a version is not stale", () => {
  assert.equal(staleDocument(edit, (uri) => ({ "file:///w/train.py": 3, "file:///w/model.py": 9 })[uri]), undefined);
  assert.equal(staleDocument(edit, () => undefined), undefined);
});
