/** Errors a caller can tell apart without parsing messages. Every message names the offending thing. */

export class GoogLeNetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The model bytes are malformed, inconsistent, or use something this runtime does not support. */
export class ModelFormatError extends GoogLeNetError {}

/** A tensor or option passed at run time does not fit the model. */
export class InputError extends GoogLeNetError {}

/** An image that cannot be decoded or used: empty, truncated, not PNG or JPEG, too large, or malformed pixels. */
export class ImageError extends GoogLeNetError {}
