export * from '../../../dist/index'
