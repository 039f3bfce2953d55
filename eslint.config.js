// Lint: typescript-eslint's recommended rules over the whole tree. Layout and line length are
// prettier's job (.prettierrc.json); `npm run typecheck` is the type check.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tidemark/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      // Tests match aligned terminal output: literal runs of spaces read better than {n}.
      'no-regex-spaces': 'off',
    },
  },
  // CommonJS files (the bundles' code-cache loader) load modules with require().
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  // Test glue for untyped harnesses (firebase-functions-test, Pulumi mocks, HTTP fakes).
  { files: ['test/**'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
);
