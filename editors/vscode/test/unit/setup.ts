// Makes `require('vscode')` load the hand-written mock (mocha --require).
import Module from 'module';
import * as path from 'path';

const mock = path.join(__dirname, '..', 'mock', 'vscode.js');
const original = (Module as unknown as { _resolveFilename: (...a: unknown[]) => string })._resolveFilename;
(Module as unknown as { _resolveFilename: (...a: unknown[]) => string })._resolveFilename = function (
  request: unknown,
  ...rest: unknown[]
): string {
  if (request === 'vscode') {
    return mock;
  }
  return original.call(this, request, ...rest);
};
