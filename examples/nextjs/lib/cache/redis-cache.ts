export * from 'stratacache'
