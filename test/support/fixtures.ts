import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/generated', import.meta.url));

/**
 * The three GoogLeNet layouts as exporters write them (see test/fixtures/make_fixtures.py), plus torchvision's
 * exported with its BatchNormalization nodes kept, for the importer's BN folding.
 */
export const GOOGLENET_FIXTURES = {
  torchvision: 'torchvision-googlenet.onnx',
  'torchvision-bn': 'torchvision-googlenet-bn.onnx',
  seed: 'seed-googlenet.onnx',
  bvlc: 'bvlc-googlenet.onnx',
} as const;

export const FIXTURE_FILES = Object.values(GOOGLENET_FIXTURES);

export function readFixture(file: string): Uint8Array {
  return new Uint8Array(readFileSync(`${FIXTURE_DIR}/${file}`));
}
