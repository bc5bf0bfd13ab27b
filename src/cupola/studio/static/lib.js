// Preact + htm: the one place the vendored UI library is imported.
import { h, render, Fragment, createRef } from "./vendor/preact.mjs";
import { useState, useEffect, useRef, useMemo, useCallback, useReducer, useLayoutEffect } from "./vendor/preact-hooks.mjs";
import htm from "./vendor/htm.mjs";

export const html = htm.bind(h);
export { h, render, Fragment, createRef, useState, useEffect, useRef, useMemo, useCallback, useReducer, useLayoutEffect };
