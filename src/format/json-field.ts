/**
 * Typed reads of untrusted JSON (a model file's header and metadata, or options a caller passes in). Every
 * failure names the value by its path, e.g. `__metadata__.preprocess.mean[2] must be a finite number, got "x"`.
 */

export type Raise = (message: string) => never;

export class JsonField {
  constructor(readonly value: unknown, readonly path: string, private readonly raise: Raise) {}

  fail(message: string): never {
    return this.raise(`${this.path} ${message}`);
  }

  /** A plain object; with `allowed`, any other key is an error (so a misspelt field is never silently ignored). */
  object(allowed?: readonly string[]): this {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value)) {
      this.fail(`must be a JSON object, got ${describe(this.value)}`);
    }
    const unknown = allowed && Object.keys(this.value).find((key) => !allowed.includes(key));
    if (unknown !== undefined) this.fail(`has an unknown field "${unknown}"`);
    return this;
  }

  keys(): string[] {
    return Object.keys(this.object().value as object);
  }

  has(key: string): boolean {
    return Object.hasOwn(this.object().value as object, key);
  }

  get(key: string): JsonField {
    if (!this.has(key)) this.fail(`is missing the field "${key}"`);
    return this.child(key);
  }

  optional(key: string): JsonField | undefined {
    return this.has(key) ? this.child(key) : undefined;
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail(`must be a string, got ${describe(this.value)}`);
    return this.value;
  }

  oneOf<T extends string>(allowed: readonly T[]): T {
    const value = this.string();
    if (!allowed.includes(value as T)) this.fail(`must be one of ${allowed.join(', ')}, got "${value}"`);
    return value as T;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`must be true or false, got ${describe(this.value)}`);
    return this.value;
  }

  number(): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) {
      this.fail(`must be a finite number, got ${describe(this.value)}`);
    }
    return this.value;
  }

  positiveNumber(): number {
    const value = this.number();
    if (!(value > 0)) this.fail(`must be positive, got ${value}`);
    return value;
  }

  /** A safe integer of at least `min`. */
  integer(min: number): number {
    if (!Number.isSafeInteger(this.value) || (this.value as number) < min) {
      this.fail(`must be an integer ≥ ${min}, got ${describe(this.value)}`);
    }
    return this.value as number;
  }

  /** An array, of exactly `length` items when given. */
  array(length?: number): JsonField[] {
    const items = this.value;
    if (!Array.isArray(items)) return this.fail(`must be an array, got ${describe(items)}`);
    if (length !== undefined && items.length !== length) this.fail(`must have ${plural(length, 'item')}, got ${items.length}`);
    return items.map((item: unknown, index) => new JsonField(item, `${this.path}[${index}]`, this.raise));
  }

  strings(): string[] {
    return this.array().map((item) => item.string());
  }

  integers(min: number, length?: number): number[] {
    return this.array(length).map((item) => item.integer(min));
  }

  numbers(length?: number): number[] {
    return this.array(length).map((item) => item.number());
  }

  /** The same value under a more telling name, e.g. a node's name after its index. */
  renamed(path: string): JsonField {
    return new JsonField(this.value, path, this.raise);
  }

  /** A JSON document held in a string value (safetensors metadata values must be strings). */
  parsed(): JsonField {
    return new JsonField(parseJson(this.string(), (message) => this.fail(message)), this.path, this.raise);
  }

  private child(key: string): JsonField {
    return new JsonField((this.value as Record<string, unknown>)[key], `${this.path}.${key}`, this.raise);
  }
}

export function parseJson(text: string, fail: Raise): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(`is not valid JSON: ${(error as Error).message}`);
  }
}

/** A short rendering of an unexpected value for an error message. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return value.length > 8 ? `an array of ${value.length} items` : JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return 'an object';
  if (typeof value === 'number') return String(value); // JSON would show NaN and Infinity as null
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** "1 item", "3 items". */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : nouns}`;
}
