/**
 * Tests import the core from src/ directly; in Node the package's `node` entry installs the file reader that
 * loads the kernel builds and the default model, so every test file starts by loading it.
 */
import '../../src/hosts/node.js';
