import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', '.stratus/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortController: 'readonly', fetch: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Reading the environment belongs to core/config.ts alone: everything else gets its settings injected.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read settings through core/config.ts, not process.env.' }],
    },
  },
  {
    files: ['core/config.ts', 'test/**', 'bench/**', 'runtime-images/**', 'cli/**', 'scripts/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
