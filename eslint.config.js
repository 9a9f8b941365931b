// ESLint (flat config): typescript-eslint's recommended rules on the TypeScript, ESLint's on the
// dashboard's browser scripts. Formatting is Prettier's job (.prettierrc.json), import boundaries
// dependency-cruiser's (.dependency-cruiser.cjs). typescript-eslint loads `typescript`, which is
// TypeScript 6's API (package.json aliases it; `tsc` is TypeScript 7, which has no such API yet).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'artifacts/', 'test-artifacts/', 'eval/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    languageOptions: { globals: globals.node },
    rules: {
      // `_` marks a value left out on purpose (a rest split, an unused callback parameter).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Header values and file names are cleaned of control characters on purpose (mime.ts, features/documents.ts).
      'no-control-regex': 'off',
      // A rethrown error here already says what failed in its message; a `cause` would print the
      // original error too, which can hold a connection URL with its password (check-providers).
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['src/http/dashboard/**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.browser, sourceType: 'module' },
  },
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node, sourceType: 'module' },
  },
);
