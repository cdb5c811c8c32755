// A stand-in for the `vscode` module (which exists only inside the editor), installed
// before the modules under test load it through vscodeApi.ts.
import Module from "node:module";

class Disposable {
  constructor(private readonly fn: () => void) {}
  dispose(): void {
    this.fn();
  }
}

class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  event = (listener: (e: T) => void) => {
    this.listeners.push(listener);
    return new Disposable(() => undefined);
  };
  fire(e: T): void {
    this.listeners.forEach((l) => l(e));
  }
  dispose(): void {
    this.listeners = [];
  }
}

class ThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: ThemeColor,
  ) {}
}

class ThemeColor {
  constructor(readonly id: string) {}
}

const TreeItemCollapsibleState = { None: 0, Collapsed: 1, Expanded: 2 };

class TreeItem {
  description?: string;
  iconPath?: ThemeIcon;
  contextValue?: string;
  tooltip?: string;
  command?: { command: string; title: string; arguments?: unknown[] };
  id?: string;
  constructor(
    readonly label: string,
    public collapsibleState: number,
  ) {}
}

class Uri {
  constructor(
    readonly scheme: string,
    readonly path: string,
    readonly query = "",
  ) {}
  get fsPath(): string {
    return this.path;
  }
  static file(p: string): Uri {
    return new Uri("file", p);
  }
  static from(parts: { scheme: string; path: string; query?: string }): Uri {
    return new Uri(parts.scheme, parts.path, parts.query);
  }
}

export const vscodeStub = {
  Disposable,
  EventEmitter,
  ThemeIcon,
  ThemeColor,
  TreeItem,
  TreeItemCollapsibleState,
  Uri,
  workspace: { workspaceFolders: undefined as unknown, getConfiguration: () => ({ get: () => undefined }) },
  extensions: { getExtension: () => undefined },
  window: {},
};

const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
const original = loader._load;
loader._load = function (request: string, ...rest: unknown[]) {
  return request === "vscode" ? vscodeStub : original.call(this, request, ...rest);
};
