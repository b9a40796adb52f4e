/**
 * Generates the ONNX fixtures (real torch.onnx.export output, seeded weights) once, before any test runs.
 * They are large, so they live in test/fixtures/generated/ (git-ignored) instead of the repository.
 */

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { FIXTURE_DIR, FIXTURE_FILES } from './support/fixtures.js';

export default function generateFixtures(): void {
  if (FIXTURE_FILES.every((file) => existsSync(`${FIXTURE_DIR}/${file}`))) return;
  try {
    execFileSync('/usr/bin/python3', ['test/fixtures/make_fixtures.py', FIXTURE_DIR], { stdio: 'inherit' });
  } catch (error) {
    throw new Error(
      'could not generate the ONNX fixtures; they need Debian\'s python3-torch, python3-torchvision and ' +
        `python3-onnx (installed by .ci/run): ${(error as Error).message}`,
    );
  }
}
